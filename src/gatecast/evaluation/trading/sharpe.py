"""The Sharpe ratio's moments, the probabilistic and the deflated Sharpe ratio (PSR, DSR)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from gatecast.errors import ConfigError


@dataclass(frozen=True)
class SharpeMoments:
    """Per-period Sharpe ratio (sample sd, ddof 1), skewness and raw kurtosis (normal: 3), and T."""

    sharpe: float
    skew: float
    kurtosis: float
    n_obs: int


def sharpe_moments(returns: np.ndarray | pd.Series) -> SharpeMoments:
    """The moments the PSR needs, from per-period returns (kurtosis raw, not excess)."""
    x = np.asarray(returns, dtype=float)
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else math.nan
    if not sd > 0:
        return SharpeMoments(math.nan, math.nan, math.nan, len(x))
    d = x - x.mean()
    m2 = float(np.mean(d**2))
    # moment estimators (as scipy.stats.skew and kurtosis(fisher=False) with bias=True)
    return SharpeMoments(
        float(np.mean(x)) / sd,
        float(np.mean(d**3)) / m2**1.5,
        float(np.mean(d**4)) / m2**2,
        len(x),
    )


def _raw_kurtosis(skew: float, kurtosis: float | None, excess_kurtosis: float | None) -> float:
    if kurtosis is not None and excess_kurtosis is not None:
        raise ConfigError(
            "give kurtosis (raw, normal = 3) or excess_kurtosis (normal = 0), not both"
        )
    g4 = 3.0 if kurtosis is None and excess_kurtosis is None else kurtosis
    if excess_kurtosis is not None:
        g4 = excess_kurtosis + 3.0  # the one conversion
    assert g4 is not None
    if g4 < 1.0 + skew**2 - 1e-9:
        raise ConfigError(
            f"kurtosis={g4:g} is below 1 + skew^2 = {1 + skew**2:g}, the least a raw kurtosis can "
            f"be; it looks like an excess kurtosis (pandas' .kurt()): pass excess_kurtosis= instead"
        )
    return g4


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float | None = None,
    sharpe_benchmark: float = 0.0,
    *,
    excess_kurtosis: float | None = None,
) -> float:
    """PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)) (Bailey and
    Lopez de Prado, 2012): the probability that the true Sharpe ratio exceeds ``sharpe_benchmark``.

    Parameters
    ----------
    sharpe, sharpe_benchmark
        Per-period (not annualised) Sharpe ratios.
    n_obs
        T, the number of returns.
    skew
        g3, their skewness.
    kurtosis, excess_kurtosis
        g4, their raw kurtosis (normal: 3), or the excess kurtosis (normal: 0; what pandas'
        ``.kurt()`` and scipy's default give), converted here once. Neither: normal.

    Examples
    --------
    >>> round(probabilistic_sharpe_ratio(0.1, 1000), 4)
    0.9992
    """
    g4 = _raw_kurtosis(skew, kurtosis, excess_kurtosis)
    if n_obs < 2:
        raise ConfigError(f"n_obs={n_obs}: the PSR needs at least 2 returns")
    var = 1.0 - skew * sharpe + (g4 - 1.0) / 4.0 * sharpe**2
    z = (sharpe - sharpe_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(max(var, 1e-300))
    return float(ndtr(z))


def _psr_or_nan(m: SharpeMoments) -> float:
    if not math.isfinite(m.sharpe) or m.n_obs < 2:
        return math.nan
    return probabilistic_sharpe_ratio(m.sharpe, m.n_obs, m.skew, m.kurtosis)


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """SR0 = sqrt(Var[SR_n]) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))): the
    Sharpe ratio the best of N unskilled trials reaches by luck (per period, as ``var_sharpe``).
    One trial: 0."""
    if n_trials < 1:
        raise ConfigError(f"n_trials={n_trials}: at least the one trial reported")
    if not var_sharpe >= 0:
        raise ConfigError(f"var_sharpe={var_sharpe}: a variance must be >= 0")
    if n_trials == 1:
        return 0.0
    g = np.euler_gamma
    q = (1 - g) * ndtri(1 - 1 / n_trials) + g * ndtri(1 - 1 / (n_trials * np.e))
    return float(math.sqrt(var_sharpe) * q)


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    var_sharpe: float,
    skew: float = 0.0,
    kurtosis: float | None = None,
    *,
    excess_kurtosis: float | None = None,
) -> float:
    """DSR = PSR(SR0) with SR0 = :func:`expected_max_sharpe` (Bailey and Lopez de Prado, 2014).

    ``sharpe`` and ``var_sharpe`` (the variance of the N trials' Sharpe ratios) are per period;
    ``n_trials`` and ``var_sharpe`` should come from the trials actually run
    (:func:`trial_sharpes`).

    Examples
    --------
    >>> sr, var = 2.5 / 250**0.5, 0.5 / 250  # annualised 2.5 and 0.5, 250 days a year
    >>> round(deflated_sharpe_ratio(sr, 1250, 100, var, skew=-3, kurtosis=10), 4)
    0.9004
    """
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    return probabilistic_sharpe_ratio(
        sharpe, n_obs, skew, kurtosis, sr0, excess_kurtosis=excess_kurtosis
    )


def trial_sharpes(net: pd.DataFrame) -> pd.Series:
    """Per-period Sharpe ratio of every distinct trial (identical return columns count once, e.g.
    a one-seed model and its seed column; a column that never holds a position has no Sharpe
    ratio and is left out); N = its length, Var[SR_n] = its variance."""
    distinct = net.loc[:, ~net.T.duplicated().to_numpy()]
    sr = pd.Series(
        {str(c): sharpe_moments(distinct[c].to_numpy()).sharpe for c in distinct.columns},
        name="sr",
        dtype=float,
    )
    defined: pd.Series = sr.dropna()
    return defined

"""The probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV)."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError


@dataclass(frozen=True)
class PBOResult:
    """Combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado and Zhu, 2017).

    Per split: the in-sample best configuration's in-sample and out-of-sample Sharpe ratio (per
    period) and the logit of its out-of-sample relative rank. ``pbo`` = share of logits <= 0;
    ``degradation_slope`` of the OLS line of out-of-sample on in-sample Sharpe; ``prob_oos_loss``
    = share of splits where the chosen configuration loses money out of sample.
    """

    pbo: float
    prob_oos_loss: float
    degradation_slope: float
    degradation_intercept: float
    logits: np.ndarray = field(repr=False)
    is_sharpe: np.ndarray = field(repr=False)
    oos_sharpe: np.ndarray = field(repr=False)
    n_blocks: int = 16
    n_configs: int = 0
    n_obs: int = 0

    @property
    def n_splits(self) -> int:
        """C(S, S/2)."""
        return len(self.logits)

    def to_dict(self) -> dict[str, Any]:
        """The numbers of ``pbo.json``."""
        return {
            "pbo": self.pbo,
            "prob_oos_loss": self.prob_oos_loss,
            "degradation_slope": self.degradation_slope,
            "degradation_intercept": self.degradation_intercept,
            "n_blocks": self.n_blocks,
            "n_splits": self.n_splits,
            "n_configs": self.n_configs,
            "n_obs": self.n_obs,
            "logit_mean": float(np.mean(self.logits)),
            "metric": "Sharpe ratio per period (mean / sd)",
        }


@functools.lru_cache(maxsize=8)
def _split_masks(n_blocks: int) -> np.ndarray:
    """(C(S, S/2), S) float mask of the in-sample blocks of every split."""
    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)))
    mask = np.zeros((len(combos), n_blocks))
    mask[np.arange(len(combos))[:, None], combos] = 1.0
    mask.flags.writeable = False
    return mask


def _sharpe_from_sums(s1: np.ndarray, s2: np.ndarray, n: int) -> np.ndarray:
    """mean / sd (ddof 1) from sums and sums of squares of n returns; 0 where sd is 0."""
    sd = s2 - s1 * s1 / n  # in place from here: these arrays are (splits, N)
    np.maximum(sd, 0.0, out=sd)
    sd /= n - 1
    np.sqrt(sd, out=sd)
    sr: np.ndarray = s1 / n
    flat = sd <= 1e-15
    sd[flat] = 1.0
    sr /= sd
    sr[flat] = 0.0
    return sr


def cscv_pbo(returns: pd.DataFrame | np.ndarray, n_blocks: int = 16) -> PBOResult:
    """The probability of backtest overfitting of N configurations by CSCV.

    The T x N returns are cut into ``n_blocks`` (S) equal blocks in time (the oldest T mod S rows
    are left out); every choice of S/2 blocks is an in-sample set and the rest its out-of-sample
    set (C(16, 8) = 12,870 splits), all computed at once from per-block sums.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = cscv_pbo(rng.normal(0, 0.01, (1000, 20)), n_blocks=8)
    >>> res.n_splits, 0.0 <= res.pbo <= 1.0
    (70, True)
    """
    x = np.asarray(returns, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ConfigError(
            f"CSCV needs a T x N matrix of returns with N >= 2 configurations; got shape {x.shape}"
        )
    if n_blocks < 2 or n_blocks % 2:
        raise ConfigError(f"n_blocks={n_blocks}: must be even and >= 2 (the default is 16)")
    t, n = x.shape
    m = t // n_blocks
    if m < 2:
        raise ConfigError(
            f"{t} returns are too few for {n_blocks} blocks of at least 2; use fewer blocks"
        )
    if not np.isfinite(x).all():
        raise ConfigError("the returns of CSCV hold NaN or inf values; drop those dates first")
    blocks = x[t - m * n_blocks :].reshape(n_blocks, m, n)
    s1, s2 = blocks.sum(axis=1), (blocks**2).sum(axis=1)  # (S, N)
    mask = _split_masks(n_blocks)  # (C, S)
    half = m * n_blocks // 2
    is1, is2 = mask @ s1, mask @ s2  # (C, N)
    sr_oos = _sharpe_from_sums(s1.sum(axis=0) - is1, s2.sum(axis=0) - is2, half)
    sr_is = _sharpe_from_sums(is1, is2, half)
    rows = np.arange(len(mask))
    best = np.argmax(sr_is, axis=1)
    chosen_is, chosen_oos = sr_is[rows, best], sr_oos[rows, best]
    # relative rank in (0, 1) of the chosen configuration out of sample, ties shared
    below = (sr_oos < chosen_oos[:, None]).sum(axis=1)
    ties = (sr_oos == chosen_oos[:, None]).sum(axis=1) - 1
    omega = (below + 1 + 0.5 * ties) / (n + 1)
    logits = np.log(omega / (1 - omega))
    if np.ptp(chosen_is) > 0:
        slope, intercept = np.polyfit(chosen_is, chosen_oos, 1)
    else:
        slope, intercept = math.nan, float(np.mean(chosen_oos))
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        prob_oos_loss=float(np.mean(chosen_oos < 0)),
        degradation_slope=float(slope),
        degradation_intercept=float(intercept),
        logits=logits,
        is_sharpe=chosen_is,
        oos_sharpe=chosen_oos,
        n_blocks=n_blocks,
        n_configs=n,
        n_obs=m * n_blocks,
    )

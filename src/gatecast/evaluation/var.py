"""Value-at-Risk and expected shortfall from variance forecasts, and their backtests.

A variance forecast sigma_t^2 (percent^2) and a standardised distribution (Normal, or Student-t
with unit variance and nu degrees of freedom fit on training data only) give the predictive
distribution of the next percent return, r_t = sigma_t z_t (mean zero, as is usual for daily
VaR). From it: VaR at 1% and 5% and the 2.5% expected shortfall, as positive losses.

Backtests of a VaR series against realised returns (an exception is r_t < -VaR_t):

- Kupiec (1995) proportion of failures: LR = -2 ln[(1-p)^{T-x} p^x / (1-x/T)^{T-x} (x/T)^x] ~ chi2(1).
- Christoffersen (1998) independence of exceptions (first-order Markov against i.i.d.) ~ chi2(1),
  and conditional coverage LR_cc = LR_pof + LR_ind ~ chi2(2).
- The Basel traffic light on the last 250 days of 99% VaR: green 0-4 exceptions, yellow 5-9,
  red 10 or more.
- Expected shortfall: the Acerbi-Szekely (2014) Z2 test, Z2 = sum_t r_t I_t / (T p ES_t) + 1
  with I_t the exceptions of the p-VaR; Z2 = 0 under the model, negative when ES is too small.
  Its p-value is P(Z2_sim <= Z2) with returns simulated from the predictive distribution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from arch.univariate import StudentsT
from scipy import optimize, stats

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.significance import TestResult
from gatecast.types import DISTRIBUTIONS, Distribution

__all__ = [
    "BASEL_DAYS",
    "DISTRIBUTIONS",
    "Distribution",
    "VarBacktest",
    "Zone",
    "acerbi_szekely_z2",
    "backtest_var",
    "block_returns",
    "christoffersen_independence",
    "conditional_coverage",
    "expected_shortfall",
    "fit_t_dof",
    "garch_cumulative_variance",
    "kupiec_pof",
    "predictive_risk",
    "standard_quantile",
    "traffic_light",
    "transition_counts",
    "value_at_risk",
]

Zone = Literal["green", "yellow", "red"]
#: The Basel window of 99% VaR exceptions.
BASEL_DAYS = 250
#: arch's bounds on the Student-t degrees of freedom.
NU_BOUNDS = (2.05, 500.0)


def _check(dist: str, nu: Any) -> None:
    if dist not in DISTRIBUTIONS:
        raise ConfigError(f"distribution {dist!r} is unknown; choose one of normal, t")
    if dist == "t" and (nu is None or np.any(np.asarray(nu, dtype=float) <= 2)):
        raise ConfigError(f"nu={nu}: a unit-variance Student-t needs degrees of freedom > 2")


# -- the predictive distribution -----------------------------------------------------------------
def fit_t_dof(returns: Any, variance: Any) -> float:
    """Degrees of freedom of the unit-variance Student-t that best fits r_t / sigma_t (maximum
    likelihood with arch's ``StudentsT``), from returns and their variance forecasts (percent,
    percent^2). Pass training rows only."""
    r, v = np.asarray(returns, dtype=float), np.asarray(variance, dtype=float)
    ok = np.isfinite(r) & np.isfinite(v) & (v > 0)
    if ok.sum() < 30:
        raise ConfigError(
            f"{int(ok.sum())} returns with a variance forecast are too few to fit the Student-t "
            f"degrees of freedom; need at least 30 (a longer calibration period)"
        )
    t = StudentsT()
    res = optimize.minimize_scalar(
        lambda nu: -float(t.loglikelihood([nu], r[ok], v[ok])),
        bounds=NU_BOUNDS,
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(res.x)


def standard_quantile(p: float, dist: Distribution, nu: Any = None) -> Any:
    """The p-quantile of the unit-variance Normal or Student-t (``nu`` a number or an array)."""
    _check(dist, nu)
    if dist == "normal":
        return float(stats.norm.ppf(p))
    nu_a = np.asarray(nu, dtype=float)
    return stats.t.ppf(p, nu_a) * np.sqrt((nu_a - 2.0) / nu_a)


def value_at_risk(variance: Any, p: float, dist: Distribution, nu: Any = None) -> np.ndarray:
    """The p-VaR as a positive loss, -sigma_t q_p, in the units of sqrt(variance)."""
    out: np.ndarray = -np.sqrt(np.asarray(variance, dtype=float)) * standard_quantile(p, dist, nu)
    return out


def expected_shortfall(variance: Any, p: float, dist: Distribution, nu: Any = None) -> np.ndarray:
    """The p expected shortfall as a positive loss, -E[r | r <= q_p], in sqrt(variance) units.

    Normal: phi(z_p) / p. Student-t: f(t_p)/p (nu + t_p^2)/(nu - 1), scaled to unit variance.
    """
    _check(dist, nu)
    sigma = np.sqrt(np.asarray(variance, dtype=float))
    if dist == "normal":
        normal: np.ndarray = sigma * stats.norm.pdf(stats.norm.ppf(p)) / p
        return normal
    nu_a = np.asarray(nu, dtype=float)
    tp = stats.t.ppf(p, nu_a)
    es = stats.t.pdf(tp, nu_a) / p * (nu_a + tp**2) / (nu_a - 1.0)
    out: np.ndarray = sigma * es * np.sqrt((nu_a - 2.0) / nu_a)
    return out


def predictive_risk(variance: pd.Series, dist: Distribution, nu: Any = None) -> pd.DataFrame:
    """VaR at 1% and 5% and ES at 2.5% (positive losses, percent) for each date."""
    out: pd.DataFrame = pd.DataFrame(
        {
            "var_1": value_at_risk(variance, 0.01, dist, nu),
            "var_5": value_at_risk(variance, 0.05, dist, nu),
            "es_2.5": expected_shortfall(variance, 0.025, dist, nu),
        },
        index=variance.index,
    )
    return out


# -- VaR backtests -------------------------------------------------------------------------------
def _xlogy(x: float, y: float) -> float:
    return float(x * np.log(y)) if x > 0 else 0.0  # 0 log 0 = 0


def kupiec_pof(exceptions: int, n: int, p: float) -> TestResult:
    """Kupiec's proportion-of-failures likelihood ratio for ``exceptions`` in ``n`` days at
    exception probability ``p``; chi2(1).

    Examples
    --------
    >>> r = kupiec_pof(5, 250, 0.01)
    >>> round(r.statistic, 4), round(r.pvalue, 4)
    (1.9568, 0.1619)
    """
    if not 0 <= exceptions <= n or n < 1:
        raise ConfigError(f"{exceptions} exceptions in {n} days: need 0 <= exceptions <= n, n >= 1")
    x, pi = exceptions, exceptions / n
    lr = -2.0 * (_xlogy(n - x, 1 - p) + _xlogy(x, p) - _xlogy(n - x, 1 - pi) - _xlogy(x, pi))
    lr = max(lr, 0.0)
    return TestResult("kupiec_pof", lr, float(stats.chi2.sf(lr, 1)), n, f"{x} exceptions, p={p}")


def transition_counts(hits: Any) -> tuple[int, int, int, int]:
    """(n00, n01, n10, n11): days with no exception / an exception after a day without / with one."""
    h = np.asarray(hits, dtype=bool)
    prev, nxt = h[:-1], h[1:]
    return (
        int((~prev & ~nxt).sum()),
        int((~prev & nxt).sum()),
        int((prev & ~nxt).sum()),
        int((prev & nxt).sum()),
    )


def christoffersen_independence(n00: int, n01: int, n10: int, n11: int) -> TestResult:
    """Christoffersen's independence LR from transition counts: a first-order Markov chain of
    exceptions against an i.i.d. one; chi2(1).

    Examples
    --------
    >>> r = christoffersen_independence(980, 12, 12, 2)
    >>> round(r.statistic, 4), round(r.pvalue, 4)
    (6.2022, 0.0128)
    """
    n = n00 + n01 + n10 + n11
    pi = (n01 + n11) / n
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    alt = _xlogy(n00, 1 - pi0) + _xlogy(n01, pi0) + _xlogy(n10, 1 - pi1) + _xlogy(n11, pi1)
    lr = max(-2.0 * (null - alt), 0.0)
    return TestResult(
        "christoffersen_independence",
        lr,
        float(stats.chi2.sf(lr, 1)),
        n + 1,
        f"n00={n00} n01={n01} n10={n10} n11={n11}",
    )


def conditional_coverage(hits: Any, p: float) -> TestResult:
    """Christoffersen's conditional coverage: LR_pof + LR_ind; chi2(2)."""
    h = np.asarray(hits, dtype=bool)
    lr = kupiec_pof(int(h.sum()), len(h), p).statistic
    lr += christoffersen_independence(*transition_counts(h)).statistic
    return TestResult("conditional_coverage", lr, float(stats.chi2.sf(lr, 2)), len(h))


def traffic_light(exceptions: int) -> Zone:
    """The Basel zone of 99% VaR with ``exceptions`` in 250 days: green 0-4, yellow 5-9, red 10+."""
    if exceptions <= 4:
        return "green"
    return "yellow" if exceptions <= 9 else "red"


def acerbi_szekely_z2(
    returns: Any,
    var: Any,
    es: Any,
    p: float,
    *,
    simulate: Any = None,
) -> tuple[float, float]:
    """Acerbi and Szekely's Z2 statistic of expected shortfall at tail probability ``p`` and,
    with ``simulate`` (draws of returns, shape (sims, T), from the predictive distribution), its
    p-value P(Z2_sim <= Z2). VaR and ES are positive losses at the same ``p``."""
    r, v, e = (np.asarray(x, dtype=float) for x in (returns, var, es))
    z2 = _z2(r, v, e, p)
    if simulate is None:
        return z2, float("nan")
    sims = np.asarray(simulate, dtype=float)
    z2_sim = _z2(sims, v, e, p)
    return z2, float(np.mean(z2_sim <= z2))


def _z2(r: np.ndarray, var: np.ndarray, es: np.ndarray, p: float) -> Any:
    hit = r < -var
    return np.sum(r * hit / es, axis=-1) / (r.shape[-1] * p) + 1.0


@dataclass
class VarBacktest:
    """One VaR series backtested: exceptions, the three LR tests, the Basel zone, the ES test."""

    level: float
    n: int
    exceptions: int
    expected: float
    kupiec_lr: float
    kupiec_p: float
    ind_lr: float
    ind_p: float
    cc_lr: float
    cc_p: float
    basel_exceptions: int | None
    zone: Zone | None
    es_level: float
    es_z2: float
    es_p: float

    @property
    def rate(self) -> float:
        """Exceptions per day."""
        return self.exceptions / self.n

    def verdict(self, size: float = 0.05) -> str:
        """``pass``, or ``fails`` and the tests rejected at ``size``."""
        failed = [
            name
            for name, pv in (("kupiec", self.kupiec_p), ("ind", self.ind_p), ("cc", self.cc_p))
            if pv < size
        ]
        return "pass" if not failed else "fails " + ", ".join(failed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rate": self.rate, "verdict": self.verdict()}


def backtest_var(
    returns: pd.Series,
    variance: pd.Series,
    dist: Distribution,
    nu: Any = None,
    *,
    level: float = 0.99,
    es_level: float = 0.975,
    sims: int = 2000,
    seed: int = 0,
) -> VarBacktest:
    """Backtest the ``level`` VaR and the ``es_level`` ES of a variance forecast (percent^2)
    against percent returns on their shared dates.

    ``nu`` (the t only) is a number or a Series by date (refit per fold). The Basel zone is
    given for 99% VaR with at least 250 days; the ES p-value simulates ``sims`` return paths
    from the predictive distribution with a generator seeded by ``seed``.
    """
    if not 0.5 < level < 1 or not 0.5 < es_level < 1:
        raise ConfigError(f"level={level}, es_level={es_level}: confidence levels in (0.5, 1)")
    both = pd.concat({"r": returns, "v": variance}, axis=1).dropna()
    both = both[both["v"] > 0]
    if both.empty:
        raise AlignmentError("the returns and the variance forecasts share no dates")
    nu_t = None
    if dist == "t":
        nu_t = nu.reindex(both.index).to_numpy(float) if isinstance(nu, pd.Series) else nu
    r, v = both["r"].to_numpy(), both["v"].to_numpy()
    p = 1.0 - level
    hits = r < -value_at_risk(v, p, dist, nu_t)
    n, x = len(hits), int(hits.sum())
    pof = kupiec_pof(x, n, p)
    ind = christoffersen_independence(*transition_counts(hits))
    cc = conditional_coverage(hits, p)
    basel, zone = None, None
    if abs(level - 0.99) < 1e-12 and n >= BASEL_DAYS:
        basel = int(hits[-BASEL_DAYS:].sum())
        zone = traffic_light(basel)
    q = 1.0 - es_level
    z = _draws(dist, nu_t, (sims, n), seed)
    z2, es_p = acerbi_szekely_z2(
        r,
        value_at_risk(v, q, dist, nu_t),
        expected_shortfall(v, q, dist, nu_t),
        q,
        simulate=z * np.sqrt(v),
    )
    return VarBacktest(
        level, n, x, p * n, pof.statistic, pof.pvalue, ind.statistic, ind.pvalue,
        cc.statistic, cc.pvalue, basel, zone, es_level, float(z2), es_p,
    )  # fmt: skip


def _draws(dist: Distribution, nu: Any, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Unit-variance draws of the predictive distribution (``nu`` per column for the t)."""
    rng = np.random.default_rng(seed)
    if dist == "normal":
        return rng.standard_normal(shape)
    nu_a = np.broadcast_to(np.asarray(nu, dtype=float), shape[1:])
    out: np.ndarray = rng.standard_t(nu_a, size=shape) * np.sqrt((nu_a - 2.0) / nu_a)
    return out


# -- h-day VaR ----------------------------------------------------------------------------------
def garch_cumulative_variance(
    next_variance: Any, omega: float, alpha: float, gamma: float, beta: float, horizon: int
) -> np.ndarray:
    """The variance of the sum of the next ``horizon`` returns under GARCH/GJR-GARCH(1,1) with
    symmetric innovations: sum_{k=1..h} E[sigma2_{t+k}], where
    E[sigma2_{t+k}] = sbar + phi^(k-1) (sigma2_{t+1} - sbar), phi = alpha + gamma/2 + beta and
    sbar = omega / (1 - phi) (the returns are uncorrelated, so their variances add).
    """
    s1 = np.asarray(next_variance, dtype=float)
    phi = alpha + 0.5 * gamma + beta
    if horizon < 1:
        raise ConfigError(f"horizon={horizon}: need at least 1 day")
    powers = phi ** np.arange(horizon)
    if phi < 1:
        sbar = omega / (1.0 - phi)
        out: np.ndarray = horizon * sbar + powers.sum() * (s1 - sbar)
        return out
    # not covariance-stationary: E[sigma2_{t+k}] = omega (k - 1) + sigma2_{t+1} when phi = 1;
    # the plain recursion in general
    v = np.array(s1, dtype=float)
    total = np.zeros_like(v)
    for _ in range(horizon):
        total = total + v
        v = omega + phi * v
    return total


def block_returns(returns: pd.Series, start: Any, horizon: int) -> pd.Series:
    """Sums of ``returns`` over non-overlapping blocks of ``horizon`` rows from ``start`` on,
    indexed by each block's first date (a last, incomplete block is left out)."""
    r = returns[returns.index >= start].dropna()
    n = len(r) // horizon
    sums = r.iloc[: n * horizon].to_numpy().reshape(n, horizon).sum(axis=1)
    out: pd.Series = pd.Series(sums, index=r.index[: n * horizon : horizon], name="block_return")
    return out

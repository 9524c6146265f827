"""Trading on a forecast: positions with the one-day lag built in, costs, performance, PSR/DSR, CSCV PBO.

The one way in is :func:`trade`, which takes forecasts indexed by the date they are *for* (as every
gatecast forecast is) and the realised returns. The forecast for day t+1 is made with information
up to the close of day t; it sets the position w_t at that close, and w_t earns r_{t+1}. The
alignment happens inside :func:`trade` only, so no public call can put a position on the return of
the day whose information produced it.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from gatecast.data.features import price_series, returns
from gatecast.errors import AlignmentError, ConfigError
from gatecast.types import check_choice

__all__ = [
    "COST_LEVELS_BPS",
    "PERIODS_PER_YEAR",
    "RULES",
    "PBOResult",
    "Rule",
    "RuleName",
    "Trades",
    "cscv_pbo",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "sharpe_moments",
    "trade",
    "trial_sharpes",
]

RuleName = Literal["sign", "long_flat", "threshold", "vol_target"]
RULES: tuple[RuleName, ...] = get_args(RuleName)
#: The cost levels of the sweep, one-way, in basis points of the traded amount.
COST_LEVELS_BPS: tuple[float, ...] = (0.0, 3.0, 8.0, 10.0, 15.0, 20.0, 50.0)
PERIODS_PER_YEAR = 252
# A daily variance in percent^2 is about 1 for an index; in fractions^2 about 1e-4.
_FRACTION_VARIANCE = 1e-2


#: One-way cost of a trade when none is given (``gatecast backtest``, every trial of a sweep).
DEFAULT_COST_BPS = 5.0
#: The rule that trades a target's forecasts when none is named (every trial of a sweep).
RULE_OF_TARGET: dict[str, RuleName] = {
    "return": "sign",
    "direction": "threshold",
    "variance": "vol_target",
}


def realised_returns(data: pd.DataFrame, column: str | None = None) -> pd.Series:
    """Simple returns (fractions) of the price column, by the day they are earned: what every
    backtest, and every trial of a sweep, trades against."""
    realised: pd.Series = returns(price_series(data, column), log=False)
    return realised


@dataclass(frozen=True)
class Rule:
    """How a forecast becomes a position.

    ``sign``: w = sign(return forecast) (long or short). ``long_flat``: w = 1 if the return
    forecast is > 0, else 0. ``threshold``: for up-probabilities, w = 1 above ``upper``, -1 below
    ``lower``, 0 between (``lower=0`` never shorts). ``vol_target``: for variance forecasts in
    percent^2 (gatecast's variance units), a long position w = min(cap, target_vol /
    sqrt(variance x periods_per_year)) with ``target_vol`` the annualised volatility aimed at, in
    percent.
    """

    name: RuleName = "sign"
    upper: float = 0.55
    lower: float = 0.45
    target_vol: float = 10.0
    cap: float = 1.0
    periods_per_year: int = PERIODS_PER_YEAR

    def __post_init__(self) -> None:
        check_choice(self.name, RULES, "rule")
        if not 0.0 <= self.lower <= self.upper <= 1.0:
            raise ConfigError(
                f"thresholds lower={self.lower}, upper={self.upper}: need 0 <= lower <= upper <= 1 "
                f"(probabilities of an up day), e.g. lower=0.45, upper=0.55"
            )
        if not (self.target_vol > 0 and self.cap > 0):
            raise ConfigError(
                f"target_vol={self.target_vol}, cap={self.cap}: both must be > 0 "
                f"(target_vol in annualised percent, e.g. 10; cap 1 = never leveraged)"
            )
        if self.periods_per_year < 1:
            raise ConfigError(f"periods_per_year={self.periods_per_year}: must be >= 1")


def _positions(f: np.ndarray, rule: Rule, names: list[str]) -> np.ndarray:
    """Position per forecast (same shape); the caller puts it on the next day's return."""
    w: np.ndarray
    if rule.name == "sign":
        w = np.sign(f)
        return w
    if rule.name == "long_flat":
        w = (f > 0).astype(float)
        return w
    if rule.name == "threshold":
        w = np.where(f > rule.upper, 1.0, np.where(f < rule.lower, -1.0, 0.0))
        return w
    bad = ~(f > 0)
    if bad.any():
        col = names[int(np.nonzero(bad.any(axis=0))[0][0])]
        raise ConfigError(
            f"rule 'vol_target' needs positive variance forecasts; column {col!r} holds "
            f"{f[bad][0]!r}: use a variance model's forecasts (percent^2)"
        )
    med = float(np.median(f))
    if med < _FRACTION_VARIANCE:
        raise ConfigError(
            f"variance forecasts look like fractions^2 (median {med:.3g}); rule 'vol_target' takes "
            f"percent^2 as gatecast's variance models give: multiply them by 1e4"
        )
    vol = np.sqrt(f * rule.periods_per_year)
    w = np.minimum(rule.cap, rule.target_vol / vol)
    return w


# -- trades ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trades:
    """Positions and their returns, gross and net of costs.

    ``positions`` holds w_t indexed by the decision date t (the close at which it is set, the
    last day of information its forecast used). ``gross`` = w_t r_{t+1}, ``traded`` = |w_t -
    w_{t-1}| and ``returns`` = r_{t+1} are indexed by the day t+1 on which the return is earned.
    The first position is the starting book, so it trades nothing (a constant position pays no
    cost; buy-and-hold is cost-free).
    """

    positions: pd.DataFrame
    gross: pd.DataFrame
    traded: pd.DataFrame
    returns: pd.Series
    rule: Rule
    cost_bps: float = 0.0
    dropped_dates: int = 0

    @property
    def columns(self) -> list[str]:
        """The traded columns (models, seeds, benchmarks)."""
        return [str(c) for c in self.gross.columns]

    def net(self, cost_bps: float | None = None) -> pd.DataFrame:
        """w_t r_{t+1} - c |w_t - w_{t-1}| at ``cost_bps`` (default: this backtest's cost)."""
        c = self.cost_bps if cost_bps is None else cost_bps
        net: pd.DataFrame = self.gross - 1e-4 * c * self.traded
        return net

    def held(self) -> pd.DataFrame:
        """The position held over each day's return (w_t on the row of day t+1)."""
        held: pd.DataFrame = pd.DataFrame(
            self.positions.to_numpy(), index=self.gross.index, columns=self.gross.columns
        )
        return held

    def break_even_bps(self) -> pd.Series:
        """The one-way cost (bps) that takes the mean return to zero: 1e4 x mean gross / mean |dw|
        (+inf for a position that never trades but earns)."""
        g, d = self.gross.mean(), self.traded.mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1e4 * g / d
        named: pd.Series = out.rename("break_even_bps")
        return named

    def statistics(self, cost_bps: float | None = None) -> pd.DataFrame:
        """One row per column: annualised return (mean x periods), volatility, Sharpe, Sortino, max
        drawdown and its duration (days), hit rate (share of days held with a positive gross
        return), exposure (mean |w|), one-way turnover per day and per year, break-even cost, and
        the per-period Sharpe, skewness, raw kurtosis, T and PSR(0) of the net returns."""
        ppy = self.rule.periods_per_year
        net = self.net(cost_bps)
        held = self.held()
        rows = []
        for c in net.columns:
            x = net[c].to_numpy()
            w = held[c].to_numpy()
            mom = sharpe_moments(x)
            sd = float(np.std(x, ddof=1))
            down = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
            dd, dd_days = _drawdown(x)
            on = w != 0
            rows.append(
                {
                    "ann_return": float(np.mean(x)) * ppy,
                    "ann_vol": sd * math.sqrt(ppy),
                    "sharpe": mom.sharpe * math.sqrt(ppy),
                    "sortino": float(np.mean(x)) / down * math.sqrt(ppy) if down > 0 else np.nan,
                    "max_drawdown": dd,
                    "max_dd_days": dd_days,
                    "hit_rate": float(np.mean(self.gross[c].to_numpy()[on] > 0))
                    if on.any()
                    else np.nan,
                    "exposure": float(np.mean(np.abs(w))),
                    "turnover_day": float(self.traded[c].mean()),
                    "turnover_year": float(self.traded[c].mean()) * ppy,
                    "sr": mom.sharpe,
                    "skew": mom.skew,
                    "kurtosis": mom.kurtosis,
                    "n_obs": mom.n_obs,
                    "psr": _psr_or_nan(mom),
                }
            )
        table: pd.DataFrame = pd.DataFrame(rows, index=pd.Index(net.columns, name="model"))
        table.insert(
            list(table.columns).index("turnover_year") + 1, "break_even_bps", self.break_even_bps()
        )
        return table

    def cost_sweep(self, levels: tuple[float, ...] = COST_LEVELS_BPS) -> pd.DataFrame:
        """Net annualised return, volatility and Sharpe of every column at each cost level (bps):
        one row per (cost_bps, model)."""
        ppy = self.rule.periods_per_year
        g = self.gross.to_numpy()
        d = self.traded.to_numpy()
        c = 1e-4 * np.asarray(levels, dtype=float)[:, None, None]
        net = g[None] - c * d[None]  # (levels, T, columns)
        mean = net.mean(axis=1)
        sd = net.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            sharpe = np.where(sd > 0, mean / sd, np.nan) * math.sqrt(ppy)
        idx = pd.MultiIndex.from_product([list(levels), self.columns], names=["cost_bps", "model"])
        sweep: pd.DataFrame = pd.DataFrame(
            {
                "ann_return": (mean * ppy).ravel(),
                "ann_vol": (sd * math.sqrt(ppy)).ravel(),
                "sharpe": sharpe.ravel(),
            },
            index=idx,
        )
        return sweep


def trade(
    forecasts: pd.DataFrame | pd.Series,
    returns: pd.Series,
    rule: Rule | RuleName = "sign",
    cost_bps: float = 0.0,
) -> Trades:
    """Trade forecasts with the one-day lag enforced: the forecast for day t+1 sets w_t, which
    earns r_{t+1}.

    Parameters
    ----------
    forecasts
        One column per model, indexed by the date each forecast is FOR (made with information up to
        the trading day before it), as every gatecast forecast is. Rows with a NaN in any column
        are left out (counted in ``dropped_dates``).
    returns
        Realised returns (simple returns, fractions), each indexed by the day it is earned (close
        t-1 to close t). Every forecast date must be a date of ``returns`` and have a trading
        day before it there (the decision date).
    rule
        A :class:`Rule` or its name.
    cost_bps
        One-way proportional cost in basis points of |w_t - w_{t-1}|.

    Returns
    -------
    Trades

    Examples
    --------
    >>> idx = pd.bdate_range("2024-01-01", periods=4)
    >>> r = pd.Series([0.01, -0.02, 0.03, -0.01], index=idx)
    >>> oracle = r.rename("oracle")  # the forecast for day t is r_t itself: it knows the future
    >>> trade(oracle, r).gross["oracle"].round(4).tolist()  # decided at t-1, earns |r_t|
    [0.02, 0.03, 0.01]
    """
    rule = rule if isinstance(rule, Rule) else Rule(rule)
    if cost_bps < 0:
        raise ConfigError(f"cost_bps={cost_bps}: a cost cannot be negative")
    frame = forecasts.to_frame() if isinstance(forecasts, pd.Series) else forecasts
    if frame.empty or frame.shape[1] == 0:
        raise AlignmentError("no forecasts to trade: give at least one column with dates")
    if not returns.index.is_monotonic_increasing or returns.index.has_duplicates:
        raise AlignmentError(
            "the returns' dates are unsorted or repeated; sort them and drop duplicates first"
        )
    missing = frame.index.difference(returns.index)
    if len(missing):
        raise AlignmentError(
            f"{len(missing)} forecast date(s) have no realised return, the first {missing[0]}: "
            f"forecasts must be indexed by the date they are for, on the dates of the returns"
        )
    complete = frame.dropna(how="any").sort_index()
    pos = returns.index.get_indexer(complete.index)
    first = pos >= 1  # the forecast for the first day of returns has no decision date in them
    complete, pos = complete[first], pos[first]
    dropped = len(frame) - len(complete)
    if len(complete) < 2:
        raise AlignmentError(
            f"only {len(complete)} date(s) with every forecast present and a trading day before "
            f"them; a backtest needs at least 2"
        )
    gaps = np.nonzero(np.diff(pos) != 1)[0]
    if len(gaps):
        after = complete.index[gaps[0]]
        raise AlignmentError(
            f"forecasts skip trading day(s) after {after} ({len(gaps)} gap(s)); a backtest needs "
            f"a forecast for every day of its period: fill them or trade a shorter period"
        )
    r = returns.to_numpy(dtype=float)[pos]
    if not np.isfinite(r).all():
        bad = complete.index[~np.isfinite(r)][0]
        raise AlignmentError(f"the realised return on {bad} is NaN or infinite; fix or drop it")
    names = [str(c) for c in complete.columns]
    w = _positions(complete.to_numpy(dtype=float), rule, names)
    earned = complete.index
    dw = np.abs(np.diff(w, axis=0, prepend=w[:1]))
    return Trades(
        positions=pd.DataFrame(
            w, index=returns.index[pos - 1].rename("decision_date"), columns=names
        ),
        gross=pd.DataFrame(w * r[:, None], index=earned, columns=names),
        traded=pd.DataFrame(dw, index=earned, columns=names),
        returns=pd.Series(r, index=earned, name="return"),
        rule=rule,
        cost_bps=float(cost_bps),
        dropped_dates=dropped,
    )


def _drawdown(x: np.ndarray) -> tuple[float, int]:
    """Max drawdown of the compounded equity (a negative fraction) and the longest spell below a
    previous peak, in periods (to the end when never recovered)."""
    equity = np.cumprod(1.0 + x)
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    dd = equity / peak - 1.0
    under = np.concatenate([[False], dd < 0, [False]])
    edges = np.diff(under.astype(np.int8))
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    longest = int((stops - starts).max()) if len(starts) else 0
    return float(dd.min(initial=0.0)), longest


# -- probabilistic and deflated Sharpe ratio --------------------------------------------------------
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


# -- probability of backtest overfitting (CSCV) -----------------------------------------------------
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

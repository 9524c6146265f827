"""Trading on a forecast: positions with the one-day lag built in, costs, performance, PSR/DSR, CSCV PBO.

The one way in is :func:`trade`, which takes forecasts indexed by the date they are *for* (as every
gatecast forecast is) and the realised returns. The forecast for day t+1 is made with information
up to the close of day t; it sets the position w_t at that close, and w_t earns r_{t+1}. The
alignment happens inside :func:`trade` only, so no public call can put a position on the return of
the day whose information produced it. Forecasts that carry the date of the last observation they
used (an ``information_date`` column, as gatecast's walk-forward writes them) are refused when that
date is after the close at which their position is set; every traded column is also screened for
forecasts too good for an honest daily model (:data:`LOOKAHEAD_CORR_CAP`, :data:`LOOKAHEAD_HIT_CAP`),
the mark of a forecast that saw the return it trades. The number of trials behind the deflated
Sharpe ratio and the PBO comes from one rule, :func:`count_trials`.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr, ndtri

from gatecast.data.features import price_series, returns
from gatecast.errors import AlignmentError, ConfigError
from gatecast.types import check_choice

__all__ = [
    "COST_LEVELS_BPS",
    "INFORMATION_DATE",
    "LOOKAHEAD_CORR_CAP",
    "LOOKAHEAD_HIT_CAP",
    "PERIODS_PER_YEAR",
    "RULES",
    "TRIAL_RULE",
    "PBOResult",
    "Rule",
    "RuleName",
    "Trades",
    "TrialSet",
    "count_trials",
    "cscv_pbo",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "sharpe_moments",
    "trade",
    "trial_columns",
    "trial_sharpes",
]

RuleName = Literal["sign", "long_flat", "threshold", "vol_target"]
RULES: tuple[RuleName, ...] = get_args(RuleName)
#: The cost levels of the sweep, one-way, in basis points of the traded amount.
COST_LEVELS_BPS: tuple[float, ...] = (0.0, 3.0, 8.0, 10.0, 15.0, 20.0, 50.0)
PERIODS_PER_YEAR = 252
# A daily variance in percent^2 is about 1 for an index; in fractions^2 about 1e-4.
_FRACTION_VARIANCE = 1e-2


#: The column of a forecast frame that holds, per row, the date of the last observation the
#: forecast used (gatecast's walk-forward writes it; :func:`trade` refuses a row whose
#: information date is after the close at which its position is set).
INFORMATION_DATE = "information_date"

# -- the look-ahead screen: what no honest daily model reaches -------------------------------------
#: The largest |rank correlation| between a daily return (or up-probability) forecast and the
#: return of the day it is for that an honest model plausibly reaches. Out-of-sample R^2 of daily
#: index-return predictors are well under 1% (|corr| < 0.1; AR(1) on the S&P 500 2001-2018: 0.04);
#: 0.2 (an R^2 of 4%) is a generous cap.
LOOKAHEAD_CORR_CAP = 0.2
#: The largest share of days on which an honest daily model calls the return's sign right
#: (documented models: 50-55%; AR(1) on the S&P 500 2001-2018: 51.7%), generously.
LOOKAHEAD_HIT_CAP = 0.6
#: A variance forecast made before day t tracks day t's squared return hardly more closely than
#: day t-1's: in Fisher-z units, atanh(rho same day) - atanh(rho previous day) on the S&P 500 is
#: below 0 for GARCH, GJR, EWMA and HAR in every year 2008-2018, and +0.04 to +0.16 per year
#: (+0.06 over 2015-2018) for the recurrent variance LSTM, whose range inputs follow day t-1's
#: squared return less; the day's own range scores +0.41 over 2015-2018. Beyond this margin (and
#: the sampling band) the forecast has seen the day.
LOOKAHEAD_VARIANCE_MARGIN = 0.2
#: The screen flags an estimate only when its one-sided confidence bound at this level is beyond
#: the cap: a false alarm on an honest model at the cap is a 1-in-1000 event.
LOOKAHEAD_LEVEL = 1e-3
# the variance of atanh of a Spearman correlation is about 1.06 / (n - 3) (Fieller, Hartley and
# Pearson, 1957)
_SPEARMAN_VAR = 1.06


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
    periods_per_year: float = PERIODS_PER_YEAR

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
    lookahead: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def columns(self) -> list[str]:
        """The traded columns (models, seeds, benchmarks)."""
        return [str(c) for c in self.gross.columns]

    @property
    def suspects(self) -> list[str]:
        """The columns the look-ahead screen flags."""
        if self.lookahead.empty:
            return []
        return [str(c) for c in self.lookahead.index[self.lookahead["look_ahead"]]]

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
        the per-period Sharpe, skewness, raw kurtosis, T and PSR(0) of the net returns, and
        ``look_ahead``: whether the screen flags the column's forecasts."""
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
        flagged = set(self.suspects)
        table["look_ahead"] = [str(c) in flagged for c in table.index]
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
    *,
    information_dates: pd.Series | None = None,
) -> Trades:
    """Trade forecasts with the one-day lag enforced: the forecast for day t+1 sets w_t, which
    earns r_{t+1}.

    Parameters
    ----------
    forecasts
        One column per model, indexed by the date each forecast is FOR (made with information up to
        the trading day before it), as every gatecast forecast is. Rows with a NaN in any column
        are left out (counted in ``dropped_dates``). A column :data:`INFORMATION_DATE` holds the
        date of the last observation each row's forecasts used (gatecast's walk-forward and
        ``forecasts.parquet`` have it); it is checked, not traded.
    returns
        Realised returns (simple returns, fractions), each indexed by the day it is earned (close
        t-1 to close t). Every forecast date must be a date of ``returns`` and have a trading
        day before it there (the decision date).
    rule
        A :class:`Rule` or its name.
    cost_bps
        One-way proportional cost in basis points of |w_t - w_{t-1}|.
    information_dates
        The same as a column :data:`INFORMATION_DATE`, as a Series by forecast date.

    Returns
    -------
    Trades
        With ``lookahead``, the screen of every column: forecasts whose rank correlation with
        the return of the day they are for is beyond :data:`LOOKAHEAD_CORR_CAP`, whose sign hit
        rate is beyond :data:`LOOKAHEAD_HIT_CAP` (or below 1 - it), or (``vol_target``) variance
        forecasts that track that day's squared return more closely than the previous day's are
        flagged ``look_ahead``, each at the one-sided level :data:`LOOKAHEAD_LEVEL`.

    Raises
    ------
    AlignmentError
        A forecast whose information date is after the close at which its position is set
        (the trading day before the day it is for), or missing, naming the first such date.

    Examples
    --------
    >>> idx = pd.bdate_range("2024-01-01", periods=4)
    >>> r = pd.Series([0.01, -0.02, 0.03, -0.01], index=idx)
    >>> oracle = r.rename("oracle")  # the forecast for day t is r_t itself: it knows the future
    >>> trade(oracle, r).gross["oracle"].round(4).tolist()  # decided at t-1, earns |r_t|
    [0.02, 0.03, 0.01]
    """
    rule = rule if isinstance(rule, Rule) else Rule(rule)
    if not (math.isfinite(cost_bps) and cost_bps >= 0):
        raise ConfigError(f"cost_bps={cost_bps}: a cost is a finite number >= 0 (bps one-way)")
    frame = forecasts.to_frame() if isinstance(forecasts, pd.Series) else forecasts
    if INFORMATION_DATE in frame.columns:
        if information_dates is not None:
            raise ConfigError(
                f"information dates given twice: the forecasts have a column "
                f"{INFORMATION_DATE!r} and information_dates= is passed; give one"
            )
        information_dates = frame[INFORMATION_DATE]
        frame = frame.drop(columns=[INFORMATION_DATE])
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
    decisions = returns.index[pos - 1]
    if information_dates is not None:
        _check_information_dates(information_dates, complete.index, decisions)
    every = returns.to_numpy(dtype=float)
    r = every[pos]
    if not np.isfinite(r).all():
        bad = complete.index[~np.isfinite(r)][0]
        raise AlignmentError(f"the realised return on {bad} is NaN or infinite; fix or drop it")
    names = [str(c) for c in complete.columns]
    f = complete.to_numpy(dtype=float)
    w = _positions(f, rule, names)
    earned = complete.index
    dw = np.abs(np.diff(w, axis=0, prepend=w[:1]))
    return Trades(
        positions=pd.DataFrame(w, index=decisions.rename("decision_date"), columns=names),
        gross=pd.DataFrame(w * r[:, None], index=earned, columns=names),
        traded=pd.DataFrame(dw, index=earned, columns=names),
        returns=pd.Series(r, index=earned, name="return"),
        rule=rule,
        cost_bps=float(cost_bps),
        dropped_dates=dropped,
        lookahead=_screen(f, r, every[pos - 1], rule, names),
    )


def _check_information_dates(info: pd.Series, dates: pd.Index, decisions: pd.Index) -> None:
    """Refuse a traded row whose forecasts used information after the close of its decision
    date (or say nothing of what they used)."""
    used = info.reindex(dates)
    if isinstance(dates, pd.DatetimeIndex):
        if pd.api.types.is_numeric_dtype(used) or pd.api.types.is_bool_dtype(used):
            raise AlignmentError(
                f"column {INFORMATION_DATE!r} holds numbers ({used.dtype}), not dates; give the "
                f"date of the last observation each forecast used"
            )
        used = pd.Series(pd.to_datetime(used, errors="coerce"), index=dates)
    try:
        late = ~np.asarray(used.to_numpy() <= decisions.to_numpy(), dtype=bool)
    except TypeError as exc:
        raise AlignmentError(
            f"column {INFORMATION_DATE!r} ({used.dtype}) cannot be compared with the dates of "
            f"the returns ({decisions.dtype}): {exc}"
        ) from exc
    if not late.any():
        return
    k = int(np.argmax(late))
    count = f"{int(late.sum())} of {len(late)} traded row(s)"
    if pd.isna(used.iloc[k]):
        raise AlignmentError(
            f"column {INFORMATION_DATE!r} gives no date for the forecast for {_day(dates[k])} "
            f"({count}): give the date of the last observation each forecast used, or drop the "
            f"column (the forecasts are then only screened for look-ahead)"
        )
    raise AlignmentError(
        f"column {INFORMATION_DATE!r}: the forecast for {_day(dates[k])} used information up "
        f"to {_day(used.iloc[k])}, after the close of {_day(decisions[k])} at which its position "
        f"is set "
        f"(the trading day before the day it is for): a look-ahead, in {count}. A forecast "
        f"for day t may use data up to day t-1 only: recompute the forecasts, or index each "
        f"one by the day it is for"
    )


def _day(stamp: Any) -> str:
    """A date as the day alone when it has no time of day (2024-01-05, not 2024-01-05 00:00:00)."""
    if isinstance(stamp, pd.Timestamp) and stamp == stamp.normalize():
        return str(stamp.date())
    return str(stamp)


# -- the look-ahead screen ---------------------------------------------------------------------------
def _rank_corr(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Spearman's rank correlation of the finite pairs and their number (NaN when a side is
    constant: a forecast that never moves carries no information either way)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, int(len(x))
    rho = float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])
    return rho, int(len(x))


def _fisher(rho: float) -> float:
    return math.atanh(min(max(rho, -1 + 1e-12), 1 - 1e-12))


def _z_band(n: int, terms: int = 1) -> float:
    """The one-sided :data:`LOOKAHEAD_LEVEL` band of ``terms`` independent Fisher-z estimates
    (their sum's sd; an upper bound for two correlated ones)."""
    return float(ndtri(1 - LOOKAHEAD_LEVEL)) * math.sqrt(terms * _SPEARMAN_VAR / max(n - 3, 1))


def _screen(
    f: np.ndarray, same: np.ndarray, previous: np.ndarray, rule: Rule, names: list[str]
) -> pd.DataFrame:
    """Per column: the rank correlations of the forecast with the return of the day it is for
    and of the day before (squared returns for variance forecasts), the sign hit rate, and
    whether (and why) the forecasts look as if they saw the day they trade."""
    rows = []
    for k in range(len(names)):
        x = f[:, k]
        if rule.name == "vol_target":
            rows.append(_variance_screen(x, same**2, previous**2))
        else:
            centre = 0.5 if rule.name == "threshold" else 0.0
            rows.append(_return_screen(x - centre, same, previous))
        rows[-1]["kind"] = {"vol_target": "variance", "threshold": "probability"}.get(
            rule.name, "return"
        )
    cols = ["kind", "n", "rank_corr", "rank_corr_prev", "hit_rate", "look_ahead", "reason"]
    table: pd.DataFrame = pd.DataFrame(rows, index=pd.Index(names, name="model"), columns=cols)
    table["look_ahead"] = table["look_ahead"].astype(bool)
    return table


def _return_screen(x: np.ndarray, same: np.ndarray, previous: np.ndarray) -> dict[str, Any]:
    rho, n = _rank_corr(x, same)
    prev, _ = _rank_corr(x, previous)
    called = np.isfinite(x) & np.isfinite(same) & (x != 0) & (same != 0)
    m = int(called.sum())
    hits = int((np.sign(x[called]) == np.sign(same[called])).sum())
    hit = hits / m if m else math.nan
    reasons = []
    if math.isfinite(rho) and abs(_fisher(rho)) - _z_band(n) > _fisher(LOOKAHEAD_CORR_CAP):
        reasons.append(
            f"its rank correlation with the return of the day it is for is {rho:+.2f} over {n} "
            f"days (an honest daily model stays within +-{LOOKAHEAD_CORR_CAP:g})"
        )
    cap = LOOKAHEAD_HIT_CAP
    if m and (
        stats.binom.sf(hits - 1, m, cap) < LOOKAHEAD_LEVEL
        or stats.binom.cdf(hits, m, 1 - cap) < LOOKAHEAD_LEVEL
    ):
        reasons.append(
            f"it calls that day's sign right on {hit:.1%} of {m} days (an honest daily model: "
            f"{1 - cap:.0%} to {cap:.0%})"
        )
    return {
        "n": n,
        "rank_corr": rho,
        "rank_corr_prev": prev,
        "hit_rate": hit,
        "look_ahead": bool(reasons),
        "reason": "; ".join(reasons),
    }


def _variance_screen(x: np.ndarray, same: np.ndarray, previous: np.ndarray) -> dict[str, Any]:
    rho, n = _rank_corr(x, same)
    prev, n_prev = _rank_corr(x, previous)
    flag = (
        math.isfinite(rho)
        and math.isfinite(prev)
        and _fisher(rho) - _fisher(prev) - _z_band(min(n, n_prev), terms=2)
        > LOOKAHEAD_VARIANCE_MARGIN
    )
    reason = (
        f"its rank correlation with the squared return of the day it is for, {rho:+.2f}, is "
        f"well above that with the previous day's, {prev:+.2f}, over {n} days (a variance "
        f"forecast made before the day tracks the previous day's at least as closely)"
        if flag
        else ""
    )
    return {
        "n": n,
        "rank_corr": rho,
        "rank_corr_prev": prev,
        "hit_rate": math.nan,
        "look_ahead": bool(flag),
        "reason": reason,
    }


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


# -- the trials of a study: one rule for N ------------------------------------------------------------
#: How N of the deflated Sharpe ratio is counted, everywhere (``backtest``, ``sweep``, PBO).
TRIAL_RULE = (
    "every (configuration, seed) traded and every model asked to compare is a trial; identical "
    "net return series count once; a seed mean reports its seeds and is no trial of its own, "
    "nor is a model not asked for, nor a benchmark"
)
_SEED_COLUMN = re.compile(r"^(?P<model>.+)\[s(?P<seed>\d+)\]$")


def trial_columns(columns: Iterable[Any], models: Iterable[str] | None = None) -> list[str]:
    """The columns of a forecast or return frame that are trials of ``models``.

    A model's trials are its seed columns (``lstm[s0]``, ``lstm[s1]``...) when the frame holds
    them, else its own column; a seed mean (``lstm`` beside its seeds) is their report, not a
    trial. ``models`` None: every model of ``columns``.

    Examples
    --------
    >>> trial_columns(["lstm[s0]", "lstm[s1]", "lstm", "ar1", "gru"], ["lstm", "ar1"])
    ['lstm[s0]', 'lstm[s1]', 'ar1']
    """
    cols = [str(c) for c in columns]
    if models is None:
        seen: dict[str, None] = {}
        for c in cols:
            match = _SEED_COLUMN.match(c)
            seen[match["model"] if match else c] = None
        models = list(seen)
    out: list[str] = []
    for m in models:
        seeds = [c for c in cols if (match := _SEED_COLUMN.match(c)) and match["model"] == m]
        for c in seeds or ([m] if m in cols else []):
            if c not in out:
                out.append(c)
    return out


@dataclass(frozen=True)
class TrialSet:
    """The distinct strategies a study tried: N of the deflated Sharpe ratio, the Sharpe ratios
    behind Var[SR_n] and the T x N net returns of the PBO (:data:`TRIAL_RULE`).

    ``returns``: date x trial, one column per distinct net return series; ``same_as``: each
    trial left out as a repeat -> the trial it repeats; ``left_out``: the columns given that are
    no trial (seed means, models not asked for); ``sharpes``: per-period Sharpe ratios of the
    trials that have one (a trial that never holds a position has none); ``unchecked``: trials
    without returns to compare (a sweep's trials written by an older gatecast), each counted once.
    """

    returns: pd.DataFrame
    sharpes: pd.Series
    same_as: dict[str, str]
    left_out: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()

    @property
    def n_trials(self) -> int:
        """N: the distinct trials (at least the one reported)."""
        return max(1, self.returns.shape[1] + len(self.unchecked))

    @property
    def var_sharpe(self) -> float:
        """Var[SR_n] per period (ddof 1) of the trials' Sharpe ratios; 0 for fewer than 2."""
        return float(np.var(self.sharpes, ddof=1)) if len(self.sharpes) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """What a run folder records of its trials."""
        return {
            "n_trials": self.n_trials,
            "trials": [str(c) for c in self.returns.columns],
            "same_as": dict(self.same_as),
            "left_out": list(self.left_out),
            "unchecked": list(self.unchecked),
            "trial_rule": TRIAL_RULE,
        }


def count_trials(net: pd.DataFrame, trials: Sequence[str] | None = None) -> TrialSet:
    """The :class:`TrialSet` of the net returns ``net`` (date x column).

    ``trials`` are the columns that are trials (every (configuration, seed) traded and every
    model asked to compare); None: :func:`trial_columns` of ``net``. Identical series (e.g. two
    configurations that take the same positions) count once.

    Examples
    --------
    >>> r = pd.Series([0.01, -0.02, 0.03, 0.01])
    >>> net = pd.DataFrame({"lstm[s0]": r, "lstm[s1]": -r, "lstm": 0 * r, "ar1": r, "gru": r})
    >>> ts = count_trials(net, trial_columns(net.columns, ["lstm", "ar1"]))
    >>> ts.n_trials, ts.same_as, ts.left_out
    (2, {'ar1': 'lstm[s0]'}, ('lstm', 'gru'))
    """
    chosen = trial_columns(net.columns) if trials is None else [str(c) for c in trials]
    missing = [c for c in chosen if c not in net.columns]
    if missing:
        raise ConfigError(
            f"trial(s) {', '.join(missing)} have no returns; the returns hold "
            f"{', '.join(map(str, net.columns))}"
        )
    kept: list[str] = []
    same_as: dict[str, str] = {}
    for c in dict.fromkeys(chosen):
        x = net[c].to_numpy(dtype=float)
        twin = next(
            (k for k in kept if np.array_equal(net[k].to_numpy(dtype=float), x, equal_nan=True)),
            None,
        )
        if twin is None:
            kept.append(c)
        else:
            same_as[c] = twin
    distinct: pd.DataFrame = net[kept]
    sharpes = pd.Series(
        {c: sharpe_moments(distinct[c].dropna().to_numpy()).sharpe for c in kept},
        name="sr",
        dtype=float,
    ).dropna()
    return TrialSet(
        returns=distinct,
        sharpes=sharpes,
        same_as=same_as,
        left_out=tuple(str(c) for c in net.columns if str(c) not in set(chosen)),
    )


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

"""Trades: forecasts on positions with the one-day lag enforced; returns, costs, statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import price_series, returns
from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.trading.lookahead import _screen
from gatecast.evaluation.trading.rules import Rule, RuleName, _positions
from gatecast.evaluation.trading.sharpe import _psr_or_nan, sharpe_moments

#: The cost levels of the sweep, one-way, in basis points of the traded amount.
COST_LEVELS_BPS: tuple[float, ...] = (0.0, 3.0, 8.0, 10.0, 15.0, 20.0, 50.0)

#: The column of a forecast frame that holds, per row, the date of the last observation the
#: forecast used (gatecast's walk-forward writes it; :func:`trade` refuses a row whose
#: information date is after the close at which its position is set).
INFORMATION_DATE = "as_of"
#: What the column was called in run folders written before format 1 of run.json: still read.
FORMER_INFORMATION_DATE = "information_date"

#: One-way cost of a trade when none is given (``gatecast backtest``, every trial of a sweep).
DEFAULT_COST_BPS = 5.0


def realised_returns(data: pd.DataFrame, column: str | None = None) -> pd.Series:
    """Simple returns (fractions) of the price column, by the day they are earned: what every
    backtest, and every trial of a sweep, trades against."""
    realised: pd.Series = returns(price_series(data, column), log=False)
    return realised


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


def as_of_named(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a column of information dates under its current name,
    :data:`INFORMATION_DATE` (``as_of``), where an earlier gatecast called it
    ``information_date``."""
    if FORMER_INFORMATION_DATE not in frame.columns:
        return frame
    if INFORMATION_DATE in frame.columns:
        raise ConfigError(
            f"information dates given twice: the forecasts have a column {INFORMATION_DATE!r} "
            f"and a column {FORMER_INFORMATION_DATE!r} (its earlier name); keep one"
        )
    renamed: pd.DataFrame = frame.rename(columns={FORMER_INFORMATION_DATE: INFORMATION_DATE})
    return renamed


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
    frame = as_of_named(forecasts.to_frame() if isinstance(forecasts, pd.Series) else forecasts)
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

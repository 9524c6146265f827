"""Trading a panel's return forecasts across instruments: each day a dollar-neutral long/short
book from the ranks of that day's forecasts, its gross and net return and its turnover.

The forecast of instrument i for day t is made with i's information up to its own previous row;
it sets i's weight w_{i,t} at that close, which earns i's return r_{i,t} (close to close). The
book on day t holds the instruments with a forecast and a return that day. A forecast whose
information date (``as_of``) is not before the day it is for, or is after the instrument's
own previous row (the close at which its weight is set), is refused, as :func:`trade` refuses
one for a single series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.trading.cross_section_screen import screen_cross_section
from gatecast.evaluation.trading.rules import PERIODS_PER_YEAR
from gatecast.evaluation.trading.trades import INFORMATION_DATE
from gatecast.types import check_choice

__all__ = [
    "SCHEMES",
    "CrossSectionRule",
    "CrossSectionTrades",
    "cross_section_weights",
    "trade_cross_section",
]

Scheme = Literal["top_bottom", "rank"]
SCHEMES: tuple[Scheme, ...] = get_args(Scheme)


@dataclass(frozen=True)
class CrossSectionRule:
    """How one day's forecasts across instruments become weights.

    ``top_bottom``: long the ``fraction`` of instruments with the highest forecasts, short the
    same number with the lowest (at least one each), equal weights, +1/2 on the long side and
    -1/2 on the short side. ``rank``: w_i proportional to (rank_i - mean rank), scaled so the
    absolute weights sum to 1. Either way the book is dollar-neutral with gross exposure 1;
    a day with fewer than two instruments, or whose forecasts are all equal (no change), is
    flat. Ties are ranked by instrument name, so the weights never depend on row order.
    """

    scheme: Scheme = "top_bottom"
    fraction: float = 0.2

    def __post_init__(self) -> None:
        check_choice(self.scheme, SCHEMES, "scheme")
        if not 0.0 < self.fraction <= 0.5:
            raise ConfigError(
                f"fraction={self.fraction}: the share of instruments on each side is in (0, 0.5], "
                f"e.g. 0.2 (long the top fifth, short the bottom fifth)"
            )


def cross_section_weights(forecasts: pd.DataFrame, rule: CrossSectionRule) -> pd.DataFrame:
    """Weights (date x instrument) from forecasts (date x instrument, NaN where an instrument
    has none that day) by ``rule``; 0 where an instrument is not in that day's book."""
    cols = sorted(forecasts.columns, key=str)
    f = forecasts[cols].to_numpy(dtype=float)
    w = np.zeros_like(f)
    for t in range(len(f)):
        ok = np.flatnonzero(np.isfinite(f[t]))
        n = len(ok)
        if n < 2 or np.ptp(f[t, ok]) == 0:
            continue
        order = ok[np.argsort(f[t, ok], kind="stable")]  # ties in instrument-name order
        if rule.scheme == "top_bottom":
            k = max(1, math.floor(rule.fraction * n))
            w[t, order[-k:]] = 0.5 / k
            w[t, order[:k]] = -0.5 / k
        else:
            rank = np.empty(n)
            rank[np.argsort(f[t, ok], kind="stable")] = np.arange(1, n + 1)
            centred = rank - rank.mean()
            w[t, ok] = centred / np.abs(centred).sum()
    out: pd.DataFrame = pd.DataFrame(w, index=forecasts.index, columns=cols)
    return out


@dataclass
class CrossSectionTrades:
    """A cross-sectional backtest of each model: ``weights`` (model -> date x instrument),
    ``gross``, ``net`` and ``turnover`` (date x model; turnover = sum_i |w_{i,t} - w_{i,t-1}|
    with the book flat before the first day, so entering it counts; cost = ``cost_bps`` / 1e4
    x turnover)."""

    weights: dict[str, pd.DataFrame]
    gross: pd.DataFrame
    net: pd.DataFrame
    turnover: pd.DataFrame
    rule: CrossSectionRule
    cost_bps: float
    periods_per_year: float = PERIODS_PER_YEAR
    #: The look-ahead screen of each model on each instrument (index model, instrument:
    #: :func:`~gatecast.evaluation.trading.cross_section_screen.screen_cross_section`).
    lookahead: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def look_ahead(self) -> list[str]:
        """The models whose forecasts the look-ahead screen flags on some instrument."""
        if self.lookahead.empty:
            return []
        flagged = self.lookahead.index[self.lookahead["look_ahead"]].get_level_values("model")
        return [str(m) for m in dict.fromkeys(flagged)]

    def summary(self) -> pd.DataFrame:
        """One row per model: ``ann_return`` (net, mean x periods), ``ann_return_gross``,
        ``sharpe`` (net, annualised), ``sharpe_gross``, ``turnover`` (mean daily),
        ``turnover_year`` and ``days``."""
        p = self.periods_per_year

        def sharpe(x: pd.Series) -> float:
            sd = float(x.std(ddof=1))
            return float(x.mean()) / sd * math.sqrt(p) if sd > 0 else float("nan")

        rows = {
            m: {
                "ann_return": float(self.net[m].mean()) * p,
                "ann_return_gross": float(self.gross[m].mean()) * p,
                "sharpe": sharpe(self.net[m]),
                "sharpe_gross": sharpe(self.gross[m]),
                "turnover": float(self.turnover[m].mean()),
                "turnover_year": float(self.turnover[m].mean()) * p,
                "days": len(self.net),
            }
            for m in self.gross.columns
        }
        out: pd.DataFrame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
        return out

    def __str__(self) -> str:
        return str(self.summary().to_string(float_format=lambda v: f"{v:.4g}"))


def trade_cross_section(
    forecasts: pd.DataFrame,
    prices: Mapping[str, pd.Series],
    rule: CrossSectionRule | None = None,
    cost_bps: float = 0.0,
    *,
    periods_per_year: float = PERIODS_PER_YEAR,
) -> CrossSectionTrades:
    """Trade each model's return forecasts across instruments, day by day.

    Parameters
    ----------
    forecasts
        Long: ``instrument``, ``date`` (the day each forecast is for), optionally ``as_of``
        (the date of the last row it used; the panel walk-forward's ``forecasts.parquet`` has
        it) and a column per model; other columns (``actual``) are ignored. A row where any
        model has no forecast is left out for all (every model trades the same books).
    prices
        Instrument -> its prices (a Series on its own calendar): r_{i,t} = P_{i,t} / P_{i,t-1} - 1
        over its own consecutive rows.
    rule
        How a day's forecasts become weights (:class:`CrossSectionRule`; default: top/bottom
        fifth).
    cost_bps
        One-way proportional cost in basis points of the day's turnover.

    Raises
    ------
    AlignmentError
        A forecast dated on a day its instrument has no price or no earlier row, or whose
        ``as_of`` is missing, not before the day it is for, or after its instrument's previous
        row; the first such instrument and date are named.
    """
    rule = rule or CrossSectionRule()
    if not (math.isfinite(cost_bps) and cost_bps >= 0):
        raise ConfigError(f"cost_bps={cost_bps}: a cost is a finite number >= 0 (bps one-way)")
    for col in ("instrument", "date"):
        if col not in forecasts.columns:
            raise AlignmentError(
                f"the forecasts have no column {col!r}: give a long table (instrument, date, "
                f"as_of, a column per model) as the panel walk-forward writes it"
            )
    fc = forecasts.assign(date=pd.to_datetime(forecasts["date"]))
    models = [c for c in fc.columns if c not in ("instrument", "date", INFORMATION_DATE, "actual")]
    if not models:
        raise AlignmentError("no model columns to trade beside instrument, date and as_of")
    # every model trades the same books: the rows where each has a forecast (as trade drops
    # a date where any column is NaN)
    fc = fc.dropna(subset=models)
    realised = []
    for n, part in fc.groupby("instrument", sort=True):
        if str(n) not in prices:
            raise AlignmentError(f"instrument {n!r} has forecasts but no prices; give its prices")
        p = prices[str(n)].astype(float)
        pos = p.index.get_indexer(pd.DatetimeIndex(part["date"]))
        bad = np.flatnonzero(pos < 1)
        if len(bad):
            raise AlignmentError(
                f"instrument {n!r}: the forecast for {part['date'].iloc[bad[0]].date()} is for a "
                f"day without its price or without a row before it; forecasts are indexed by "
                f"the day they are for, on the instrument's own dates"
            )
        decision = p.index[pos - 1]
        if INFORMATION_DATE in part.columns:
            used = pd.to_datetime(part[INFORMATION_DATE], errors="coerce").to_numpy()
            late = ~(used <= decision.to_numpy())  # NaT compares False: refused too
            if late.any():
                k = int(np.argmax(late))
                day = part["date"].iloc[k].date()
                raise AlignmentError(
                    f"instrument {n!r}: the forecast for {day} used information up to "
                    f"{str(used[k])[:10]}, not before the close of {decision[k].date()} at which "
                    f"its weight is set (its row before {day}): a look-ahead in "
                    f"{int(late.sum())} row(s). A forecast for day t may use data up to the "
                    f"instrument's previous row only: recompute the forecasts"
                )
        r = p.to_numpy()[pos] / p.to_numpy()[pos - 1] - 1.0
        realised.append(
            pd.Series(
                r, index=pd.MultiIndex.from_arrays([part["date"], part["instrument"].astype(str)])
            )
        )
    returns = pd.concat(realised).unstack().sort_index()
    weights, gross, turnover = {}, {}, {}
    for m in models:
        wide = fc.pivot(index="date", columns="instrument", values=m).sort_index()
        wide.columns = wide.columns.astype(str)
        wide = wide.reindex(index=returns.index, columns=returns.columns)
        w = cross_section_weights(wide.where(returns.notna()), rule)
        r = returns[w.columns].fillna(0.0)
        weights[m] = w
        gross[m] = (w * r).sum(axis=1)
        turnover[m] = w.diff().fillna(w).abs().sum(axis=1)
    g, t = pd.DataFrame(gross), pd.DataFrame(turnover)
    screen = screen_cross_section(fc, prices, models)
    return CrossSectionTrades(
        weights, g, g - cost_bps / 1e4 * t, t, rule, float(cost_bps), periods_per_year, screen
    )

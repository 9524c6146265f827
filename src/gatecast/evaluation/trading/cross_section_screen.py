"""The look-ahead screen of a panel's return forecasts: the single-series screen
(:mod:`~gatecast.evaluation.trading.lookahead`) run on each instrument's forecasts, against the
return of the day each is for and of the instrument's day before, on its own calendar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from gatecast.evaluation.trading.lookahead import _screen
from gatecast.evaluation.trading.rules import Rule

__all__ = ["screen_cross_section"]


def screen_cross_section(
    forecasts: pd.DataFrame, prices: Mapping[str, pd.Series], models: Sequence[str]
) -> pd.DataFrame:
    """Per model and instrument: the rank correlation of the return forecasts with the return
    of the day they are for (``rank_corr``) and of the day before (``rank_corr_prev``), the
    sign hit rate, ``look_ahead`` and its ``reason``, as the single-series screen gives them.

    Parameters
    ----------
    forecasts
        Long: ``instrument``, ``date`` (the day each forecast is for, a day of its
        instrument's prices with a row before it) and a column per model in ``models``.
    prices
        Instrument -> its prices; r_t = P_t / P_{t-1} - 1 over its own consecutive rows (the
        day before the first row is NaN and is left out of the previous-day correlation).

    Returns
    -------
    pandas.DataFrame
        Indexed by (``model``, ``instrument``): ``kind``, ``n``, ``rank_corr``,
        ``rank_corr_prev``, ``hit_rate``, ``look_ahead`` (bool), ``reason``.
    """
    names = [str(m) for m in models]
    parts = []
    for name, part in forecasts.groupby("instrument", sort=True):
        p = prices[str(name)].to_numpy(dtype=float)
        pos = prices[str(name)].index.get_indexer(pd.DatetimeIndex(part["date"]))
        same = p[pos] / p[pos - 1] - 1.0
        before = np.maximum(pos - 2, 0)
        previous = np.where(pos >= 2, p[pos - 1] / p[before] - 1.0, np.nan)
        f = part[names].to_numpy(dtype=float)
        table = _screen(f, same, previous, Rule("sign"), names)
        parts.append(table.assign(instrument=str(name)).set_index("instrument", append=True))
    out: pd.DataFrame = pd.concat(parts).sort_index(level="model", sort_remaining=False)
    return out

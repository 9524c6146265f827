"""A panel walk-forward's forecasts as one long table (``forecasts.parquet`` of a panel run):
each instrument's dates, the row each forecast used and what it is scored against."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from gatecast.data.volatility import variance_proxy
from gatecast.evaluation.panel_walk import PanelWalkResult
from gatecast.experiment.panel_returns import actual_of
from gatecast.types import Proxy

__all__ = ["long_forecasts"]


def long_forecasts(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    proxy: Proxy = "squared",
    column: str | None = None,
    target: str = "variance",
) -> pd.DataFrame:
    """The walk's forecasts as a long table: ``instrument``, ``date`` (the day forecast),
    ``as_of`` (the instrument's row before it: the last one the forecast used), ``actual``
    (the proxy, or for a return target the log return, it is scored against) and a column per
    model (NaN where a model has none)."""
    parts = []
    for n, fc in walk.forecasts.groupby(level="instrument", sort=True):
        fc = fc.droplevel("instrument")
        df = panel[str(n)]
        pos = df.index.get_indexer(fc.index)
        as_of = df.index[pos - 1]  # every forecast date has min_train >= 1 rows before it
        actual = actual_of(target, df, proxy, column)
        if actual is None:
            actual = variance_proxy(df, proxy, column=column)
        actual = actual.reindex(fc.index)
        head = pd.DataFrame(
            {"instrument": str(n), "date": fc.index, "as_of": as_of, "actual": actual.to_numpy()}
        )
        parts.append(pd.concat([head, fc.reset_index(drop=True)], axis=1))
    out: pd.DataFrame = pd.concat(parts, ignore_index=True)
    return out

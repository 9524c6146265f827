"""Figures of a panel VaR backtest: each instrument's VaR exceptions over those expected, per model."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from gatecast.plots.panel import dot_chart


def plot_exception_ratios(table: pd.DataFrame, *, title: str = "") -> Figure:
    """A dot chart: one row per instrument, one marker per model at its VaR exceptions over
    those expected (the line at 1: as many as the level promises). A filled marker passes the
    backtests, a hollow one is rejected.

    ``table`` has the columns ``instrument``, ``model``, ``ratio`` and ``rejected`` (bool), one
    row per instrument and model (one distribution and level).
    """
    return dot_chart(
        table,
        list(dict.fromkeys(table["model"].astype(str))),
        ~table["rejected"].astype(bool).to_numpy(),
        "VaR exceptions / expected (above 1: too many)",
        title or "per-instrument VaR exceptions over expected (hollow: rejected)",
    )

"""Figures of a backtest: equity net of costs beside buy-and-hold, drawdowns, Sharpe ratio against cost."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gatecast.plots.layout import finish

# the benchmarks are drawn alike in every figure, so a reader finds them at a glance
_BENCHMARK_STYLE = {
    "buy_and_hold": {"color": "k", "lw": 1.6, "label": "buy and hold"},
    "garch_vol_target": {"color": "0.45", "lw": 1.4, "ls": "--", "label": "GARCH vol target"},
}


def _style(name: str) -> dict[str, Any]:
    return dict(_BENCHMARK_STYLE.get(name, {"lw": 1.0, "label": name}))


def plot_equity(net: pd.DataFrame, *, title: str = "") -> Figure:
    """Growth of 1 invested, prod(1 + net return), for each column (benchmarks in black/grey)."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for name in net:
        ax.plot(net.index, np.cumprod(1.0 + net[name].to_numpy()), **_style(str(name)))
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_ylabel("equity (start = 1)")
    return finish(fig, ax, title, loc="upper left")


def plot_drawdown(net: pd.DataFrame, *, title: str = "") -> Figure:
    """Equity over its running peak, minus 1: how far below its best each column is, day by day."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for name in net:
        equity = np.cumprod(1.0 + net[name].to_numpy())
        peak = np.maximum.accumulate(np.maximum(equity, 1.0))
        ax.plot(net.index, 100.0 * (equity / peak - 1.0), **_style(str(name)))
    ax.set_ylabel("drawdown (%)")
    return finish(fig, ax, title, loc="lower left")


def plot_cost_sweep(sharpe: pd.DataFrame, *, title: str = "") -> Figure:
    """Net annualised Sharpe ratio (rows: one-way cost in bps) of each column; a line that falls
    below buy-and-hold's marks the cost at which the model stops being worth trading."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = sharpe.index.to_numpy(dtype=float)
    for name in sharpe:
        ax.plot(x, sharpe[name].to_numpy(), marker="o", ms=3, **_style(str(name)))
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("one-way cost (bps of the traded amount)")
    ax.set_ylabel("net Sharpe ratio (annualised)")
    return finish(
        fig, ax, f"cost sweep: {title}" if title else "cost sweep", loc="lower left", ncol=3
    )

"""Figures of forecast uncertainty: a fan chart of intervals, and VaR with its exceptions."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gatecast.plots.layout import finish


def plot_fan(
    actual: pd.Series,
    forecast: pd.Series,
    bands: dict[float, pd.DataFrame],
    *,
    title: str = "",
) -> Figure:
    """The point forecast inside nested intervals (``bands``: level -> frame of ``lower`` and
    ``upper``; wider levels lighter), the realised values as dots, those outside the widest band
    in red."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    levels = sorted(bands, reverse=True)
    for k, level in enumerate(levels):
        b = bands[level].reindex(forecast.index)
        lo, hi = b["lower"].to_numpy(float), b["upper"].to_numpy(float)
        shown = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(
            forecast.index,
            np.where(shown, lo, np.nan),
            np.where(shown, hi, np.nan),
            color="C0",
            alpha=0.15 + 0.2 * k,
            lw=0,
            label=f"{level:.0%}",
        )
    ax.plot(forecast.index, forecast.to_numpy(float), color="C0", lw=0.8, label="forecast")
    widest = bands[levels[0]].reindex(actual.index) if levels else None
    y = actual.to_numpy(float)
    out = np.zeros(len(y), dtype=bool)
    if widest is not None:
        out = (y < widest["lower"].to_numpy(float)) | (y > widest["upper"].to_numpy(float))
    ax.scatter(actual.index[~out], y[~out], s=3, color="k", label="realised")
    if levels:  # without a band (a prediction with no interval) nothing lies outside one
        ax.scatter(actual.index[out], y[out], s=8, color="C3", label=f"outside {levels[0]:.0%}")
    return finish(fig, ax, title, loc="upper left", ncol=6)


def plot_exceptions(
    returns: pd.Series,
    var: pd.DataFrame,
    *,
    title: str = "",
) -> Figure:
    """Daily returns and each column's -VaR line; a return below a line is an exception, marked
    on that line's colour (one panel per column, returns in grey)."""
    n = max(var.shape[1], 1)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.4 * n + 0.6), sharex=True, squeeze=False)
    r = returns.reindex(var.index)
    for k, (ax, name) in enumerate(zip(axes[:, 0], var.columns, strict=False)):
        v = var[name].to_numpy(float)
        y = r.to_numpy(float)
        hit = y < -v
        ax.bar(var.index, y, width=1.0, color="0.6", lw=0)
        ax.plot(var.index, -v, color=f"C{k}", lw=0.9, label=f"-VaR {name}")
        ax.scatter(var.index[hit], y[hit], color="C3", s=10, zorder=3)
        ax.set_ylabel("%")
        ax.legend(loc="lower left", fontsize=8, title=f"{int(hit.sum())} exceptions")
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig

"""Figures of a walk-forward evaluation: forecasts against the proxy, cumulative loss differences."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from gatecast.plots.layout import finish


def plot_forecasts(
    actual: pd.Series, forecasts: pd.DataFrame, *, title: str = "", log_scale: bool = False
) -> Figure:
    """The actual series (or proxy) as grey dots and each model's forecast as a line."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(
        actual.index,
        actual.to_numpy(),
        ".",
        color="0.6",
        ms=2.5,
        label=str(actual.name or "actual"),
    )
    for name in forecasts:
        ax.plot(forecasts.index, forecasts[name].to_numpy(), lw=1.0, label=str(name))
    if log_scale:
        ax.set_yscale("log")
    return finish(fig, ax, title, loc="upper left")


def plot_cumulative_loss_difference(
    losses: pd.DataFrame, reference: str, *, loss_name: str = ""
) -> Figure:
    """sum_{s<=t} (loss_model - loss_reference) for every model: below zero means it beats the reference
    so far; a steady downward slope is a consistent edge, a single jump is one lucky day."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ref = losses[reference]
    for name in losses:
        if name == reference:
            continue
        ax.plot(losses.index, (losses[name] - ref).cumsum().to_numpy(), lw=1.0, label=str(name))
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_title(
        f"cumulative {loss_name} difference vs {reference} (below 0: better than {reference})"
    )
    if len(losses.columns) > 1:  # an evaluation of one model has nothing to compare
        ax.legend(ncol=4, fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig

"""Figures of a panel VaR backtest: each instrument's VaR exceptions over those expected, per model."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">")


def plot_exception_ratios(table: pd.DataFrame, *, title: str = "") -> Figure:
    """A dot chart: one row per instrument, one marker per model at its VaR exceptions over
    those expected (the line at 1: as many as the level promises). A filled marker passes the
    backtests, a hollow one is rejected.

    ``table`` has the columns ``instrument``, ``model``, ``ratio`` and ``rejected`` (bool), one
    row per instrument and model (one distribution and level).
    """
    instruments = list(dict.fromkeys(table["instrument"].astype(str)))
    models = list(dict.fromkeys(table["model"].astype(str)))
    rows = {n: i for i, n in enumerate(instruments)}
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(instruments)))
    k = max(len(models), 1)
    for j, (m, marker) in enumerate(zip(models, _MARKERS * (1 + len(models)), strict=False)):
        part = table[table["model"].astype(str) == m]
        # each model a little above or below the row's line, so equal ratios do not hide
        y = np.array([rows[str(n)] for n in part["instrument"]]) + (j - (k - 1) / 2) * 0.12
        bad = part["rejected"].astype(bool).to_numpy()
        x = part["ratio"].to_numpy(dtype=float)
        ax.scatter(x[~bad], y[~bad], marker=marker, color=f"C{j}", label=m, zorder=3)
        ax.scatter(x[bad], y[bad], marker=marker, facecolors="none", edgecolors=f"C{j}", zorder=3)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(instruments)), instruments)
    ax.set_ylim(len(instruments) - 0.5, -0.5)  # the first instrument on top
    ax.set_xlabel("VaR exceptions / expected (above 1: too many)")
    ax.set_title(title or "per-instrument VaR exceptions over expected (hollow: rejected)")
    ax.grid(alpha=0.3, axis="x")
    if models:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig

"""Figures of a panel evaluation: each instrument's loss ratio to the reference, per model."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Markers of the models, in turn (a filled one: in the instrument's model confidence set).
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">")


def plot_panel_ratios(
    table: pd.DataFrame, reference: str, *, loss_name: str = "QLIKE", title: str = ""
) -> Figure:
    """A dot chart of per-instrument loss ratios: one row per instrument (in the order of
    ``table``'s instruments), one marker per model other than ``reference`` at its ``ratio``
    (loss / the reference's loss; the line at 1 is the reference). A filled marker is in that
    instrument's model confidence set, a hollow one is out of it.

    ``table`` has the columns ``instrument``, ``model``, ``ratio`` and ``in_mcs`` (the
    per-instrument table of :func:`gatecast.evaluation.panel_scores.score_panel`).
    """
    models = [m for m in dict.fromkeys(table["model"].astype(str)) if m != reference]
    return dot_chart(
        table,
        models,
        table["in_mcs"].astype(bool).to_numpy(),
        f"{loss_name} / {reference}'s (below 1: lower loss than {reference})",
        title or f"per-instrument {loss_name} ratio to {reference} (hollow: out of MCS)",
    )


def dot_chart(
    table: pd.DataFrame, models: list[str], filled: np.ndarray, xlabel: str, title: str
) -> Figure:
    """A dot chart of ``table``'s ``ratio`` column: one row per instrument (in the order of
    ``table``'s instruments), one marker per model of ``models``, filled where ``filled`` (one
    bool per row of ``table``) holds, hollow elsewhere; the line at 1."""
    instruments = list(dict.fromkeys(table["instrument"].astype(str)))
    rows = {n: i for i, n in enumerate(instruments)}
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(instruments)))
    k = max(len(models), 1)
    for j, (m, marker) in enumerate(zip(models, _MARKERS * (1 + len(models)), strict=False)):
        mine = (table["model"].astype(str) == m).to_numpy()
        part = table[mine]
        # each model a little above or below the row's line, so equal ratios do not hide
        y = np.array([rows[str(n)] for n in part["instrument"]]) + (j - (k - 1) / 2) * 0.12
        inside = filled[mine]
        x = part["ratio"].to_numpy(dtype=float)
        ax.scatter(x[inside], y[inside], marker=marker, color=f"C{j}", label=m, zorder=3)
        ax.scatter(
            x[~inside], y[~inside], marker=marker, facecolors="none", edgecolors=f"C{j}", zorder=3
        )
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(instruments)), instruments)
    ax.set_ylim(len(instruments) - 0.5, -0.5)  # the first instrument on top
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    if models:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig

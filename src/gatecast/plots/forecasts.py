"""Figures of a training run: loss curves, forecasts against actuals, and a model comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gatecast.artifacts import atomic_write_bytes


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` to PNG and write it atomically; closes the figure."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def loss_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """Training (solid) and validation (dashed) loss per epoch for each named model, log scale."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, hist) in enumerate(histories.items()):
        color = f"C{i}"
        tr = hist.get("train_loss", [])
        ax.plot(range(1, len(tr) + 1), tr, color=color, label=f"{name} train")
        va = hist.get("val_loss", [])
        if va:
            ax.plot(range(1, len(va) + 1), va, color=color, ls="--", label=f"{name} validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled units)")
    ax.set_yscale("log")
    ax.set_title("Loss curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def forecast_vs_actual(
    actual: pd.Series,
    forecasts: Mapping[str, pd.Series],
    path: str | Path,
    *,
    title: str = "",
    last: int | None = 250,
) -> Path:
    """Actual target and each model's forecast over the test period (the last ``last`` points)."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    a = actual if last is None else actual.iloc[-last:]
    ax.plot(a.index, a.to_numpy(), color="0.3", lw=0.9, label="actual")
    for i, (name, f) in enumerate(forecasts.items()):
        f = f.loc[f.index.isin(a.index)]
        ax.plot(f.index, f.to_numpy(), color=f"C{i}", lw=1.1, label=name)
    ax.set_title(title or "Forecast vs actual (test period)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=min(4, len(forecasts) + 1))
    fig.autofmt_xdate()
    return save_figure(fig, path)


def comparison_chart(table: pd.DataFrame, path: str | Path, *, metric: str = "theil_u") -> Path:
    """One metric per model as a bar chart, with the value printed on each bar.

    For Theil's U the bars show ``100 (U - 1)``: the percent by which a model's RMSE is above
    (worse) or below (better) the no-change forecast's, so differences of a tenth of a percent
    stay visible.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4))
    vals = table[metric].astype(float)
    baseline = {"no_change", "historical_mean"}
    colors = ["0.6" if n in baseline else f"C{i}" for i, n in enumerate(vals.index)]
    shown = 100 * (vals - 1.0) if metric == "theil_u" else vals
    bars = ax.bar([str(i) for i in vals.index], shown.to_numpy(), color=colors)
    for bar, v in zip(bars, shown.to_numpy(), strict=True):
        ax.annotate(
            f"{v:+.2f}" if metric == "theil_u" else f"{v:.4g}",
            (bar.get_x() + bar.get_width() / 2, v),
            ha="center",
            va="bottom" if v >= 0 else "top",
            fontsize=9,
        )
    if metric == "theil_u":
        ax.axhline(0.0, color="k", lw=1)
        ax.set_ylabel("RMSE vs no-change, % (below 0 = better)")
        span = max(0.5, float(np.nanmax(np.abs(shown.to_numpy()))) * 1.3)
        ax.set_ylim(-span, span)
        ax.set_title("Test-period RMSE relative to the no-change forecast (100 (U - 1))")
    else:
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} by model (test period)")
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)

"""Figures of a training run: loss curves, forecasts against actuals, and a model comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gatecast.artifacts import atomic_write_bytes
from gatecast.plots.svg import series_style


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` to PNG and write it atomically; closes the figure."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def loss_figure(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """Training (line) and validation (line with open circles) loss per epoch for each named
    model, log scale; each model has its own colour and dash pattern."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, hist) in enumerate(histories.items()):
        style = series_style(i)
        tr = hist.get("train_loss", [])
        ax.plot(range(1, len(tr) + 1), tr, lw=1.4, label=f"{name} train", **style)
        va = hist.get("val_loss", [])
        if va:
            ax.plot(
                range(1, len(va) + 1),
                va,
                lw=0.9,
                marker="o",
                ms=3.5,
                fillstyle="none",
                markevery=max(1, len(va) // 12),
                label=f"{name} validation",
                **style,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled units)")
    ax.set_yscale("log")
    ax.set_title("Loss curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def loss_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """:func:`loss_figure` written to ``path`` as PNG."""
    return save_figure(loss_figure(histories), path)


def forecast_figure(
    actual: pd.Series,
    forecasts: Mapping[str, pd.Series],
    *,
    title: str = "",
    last: int | None = 250,
) -> Figure:
    """Actual target (solid grey) and each model's forecast (its own colour and dash pattern)
    over the test period (the last ``last`` points)."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    a = actual if last is None else actual.iloc[-last:]
    ax.plot(a.index, a.to_numpy(), color="0.3", lw=0.9, label="actual")
    for i, (name, f) in enumerate(forecasts.items()):
        f = f.loc[f.index.isin(a.index)]
        ax.plot(f.index, f.to_numpy(), lw=1.1, label=name, **series_style(i + 1))
    ax.set_title(title or "Forecast vs actual (test period)")
    ax.grid(alpha=0.3)
    long_names = max(map(len, forecasts), default=0) > 30  # one column, or it outgrows the axes
    ax.legend(fontsize=8, ncol=1 if long_names else min(4, len(forecasts) + 1))
    fig.autofmt_xdate()
    return fig


def forecast_vs_actual(
    actual: pd.Series,
    forecasts: Mapping[str, pd.Series],
    path: str | Path,
    *,
    title: str = "",
    last: int | None = 250,
) -> Path:
    """:func:`forecast_figure` written to ``path`` as PNG."""
    return save_figure(forecast_figure(actual, forecasts, title=title, last=last), path)


def comparison_figure(table: pd.DataFrame, *, metric: str = "theil_u") -> Figure:
    """One metric per model as a bar chart, with the value printed on each bar (baselines grey
    and hatched).

    For Theil's U the bars show ``100 (U - 1)``: the percent by which a model's RMSE is above
    (worse) or below (better) the no-change forecast's, so differences of a tenth of a percent
    stay visible.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4))
    vals = table[metric].astype(float)
    baseline = {"no_change", "historical_mean"}
    colors = ["0.6" if n in baseline else f"C{i}" for i, n in enumerate(vals.index)]
    shown = 100 * (vals - 1.0) if metric == "theil_u" else vals
    hatches = ["//" if n in baseline else "" for n in vals.index]
    bars = ax.bar([str(i) for i in vals.index], shown.to_numpy(), color=colors, hatch=hatches)
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
    return fig


def comparison_chart(table: pd.DataFrame, path: str | Path, *, metric: str = "theil_u") -> Path:
    """:func:`comparison_figure` written to ``path`` as PNG."""
    return save_figure(comparison_figure(table, metric=metric), path)

"""The answer to "how long a sequence?": a sweep's selection loss against each swept parameter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _shown(v: Any) -> str:
    return "+".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _positions(values: pd.Series) -> tuple[np.ndarray, list[str], bool]:
    """x positions of a parameter's values: the numbers themselves, or 0..k-1 for categories."""
    try:
        x = values.astype(float).to_numpy()
        return x, [], True
    except ValueError:
        cats = list(dict.fromkeys(values))
        return np.array([cats.index(v) for v in values], dtype=float), cats, False


def plot_selection(
    selection: pd.DataFrame,
    swept: list[str],
    selected: Mapping[str, Any],
    *,
    loss_name: str = "loss",
) -> Figure:
    """One panel per swept parameter: every configuration's mean selection loss (grey dots), the
    slice through the selected configuration (the other parameters at their selected values)
    with error bars of one seed standard deviation, and the selected point as a red star.

    ``selection`` has a column per swept parameter (values as shown), ``select_mean`` and
    ``select_sd`` (NaN with one seed).
    """
    n = max(len(swept), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False, sharey=True)
    chosen = {k: _shown(v) for k, v in selected.items()}
    for ax, name in zip(axes[0], swept, strict=False):
        x, cats, numeric = _positions(selection[name])
        y = selection["select_mean"].to_numpy(dtype=float)
        ax.plot(x, y, "o", color="0.7", ms=4, label="every configuration")
        others = [k for k in swept if k != name]
        on_slice = np.ones(len(selection), dtype=bool)
        for k in others:
            on_slice &= (selection[k] == chosen[k]).to_numpy()
        order = np.argsort(x[on_slice], kind="stable")
        sd = np.nan_to_num(selection["select_sd"].to_numpy(dtype=float)[on_slice][order])
        ax.errorbar(
            x[on_slice][order],
            y[on_slice][order],
            yerr=sd,
            fmt="-o",
            color="C0",
            ms=4,
            capsize=3,
            label="others at selected values (+- 1 seed sd)",
        )
        here = on_slice & (selection[name] == chosen[name]).to_numpy()
        ax.plot(x[here], y[here], "*", color="red", ms=14, label="selected")
        if numeric and len(x) and x.min() > 0 and x.max() / x.min() >= 3:
            ax.set_xscale("log")  # windows and learning rates are tried on a log grid
        if numeric and len(set(x)) <= 8:
            ax.set_xticks(sorted(set(x)))
            ax.set_xticklabels([f"{v:g}" for v in sorted(set(x))])
            ax.minorticks_off()
        if cats:
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels(cats)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"selection {loss_name} (mean over seeds)")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle("selection loss by swept parameter (test period not used)", fontsize=10)
    fig.tight_layout()
    return fig

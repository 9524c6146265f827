"""Figures of a recurrent cell's run: gate heatmaps, cell-state lines, gradient flow (the cell's
structure diagram: :mod:`gatecast.plots.cell_diagram`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gatecast.errors import ConfigError
from gatecast.plots.cell_diagram import cell_diagram as cell_diagram

GATE_TITLES = {
    "i": "input gate i",
    "f": "forget gate f",
    "g": "candidate g",
    "o": "output gate o",
    "c": "cell state c",
    "h": "hidden state h",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "candidate n",
    "a": "pre-activation a",
}


# --------------------------------------------------------------------------------------------------
# Gate heatmaps and cell-state lines (from a gatecast.nn GateRecord, or any mapping of arrays)
# --------------------------------------------------------------------------------------------------


def _series(record: Any, layer: int, batch: int) -> tuple[str, dict[str, np.ndarray]]:
    """(cell, {name: (time, unit) array}) from a GateRecord."""
    try:
        cell, values = record.cell, record.select(layer=layer, batch=batch)
    except (AttributeError, IndexError) as exc:
        raise ConfigError(
            f"cannot read layer {layer}, sequence {batch} of the record ({exc}); "
            "pass a GateRecord from forward(..., record=True)"
        ) from exc
    return cell, values


def gate_heatmaps(
    record: Any,
    *,
    layer: int = -1,
    batch: int = 0,
    time_labels: Sequence[Any] | None = None,
    title: str = "",
) -> Figure:
    """One heatmap per gate (units x time) for one sequence of a `gatecast.nn.GateRecord`.

    Sigmoid gates share the colour scale 0..1 (0 = closed, 1 = open); tanh quantities -1..1.

    Parameters
    ----------
    record : GateRecord
        From ``stack.forward(x, record=True).record``.
    layer, batch : int
        Which layer (default the top one) and which sequence of the batch.
    time_labels : sequence, optional
        Labels of the time axis (e.g. dates); default 1..T.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cell, values = _series(record, layer, batch)
    names = [n for n in values if n not in ("c", "h")] + ["h"]
    T = values["h"].shape[0]
    fig, axes = plt.subplots(
        len(names),
        1,
        figsize=(min(14.0, 4.0 + 0.22 * T), 1.1 + 1.35 * len(names)),
        sharex=True,
        squeeze=False,
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        v = values[name].T  # (unit, time)
        sigmoid = (cell == "lstm" and name in "ifo") or (cell == "gru" and name in "rz")
        if name == "a":
            lim = max(float(np.nanmax(np.abs(v))), 1e-12)
            kw: dict[str, Any] = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
        else:
            kw = (
                {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
                if sigmoid
                else {"cmap": "RdBu_r", "vmin": -1.0, "vmax": 1.0}
            )
        im = ax.imshow(v, aspect="auto", interpolation="nearest", origin="lower", **kw)
        ax.set_ylabel("unit", fontsize=8)
        ax.set_title(GATE_TITLES.get(name, name), fontsize=9, loc="left")
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    _time_axis(axes[-1, 0], T, time_labels)
    fig.suptitle(
        title or f"{cell.upper()} gates over the window (layer {_layer_name(record, layer)})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def cell_state_plot(
    record: Any,
    *,
    layer: int = -1,
    batch: int = 0,
    units: Sequence[int] | None = None,
    time_labels: Sequence[Any] | None = None,
    title: str = "",
) -> Figure:
    """Line plot of the carried state over time, one line per unit: c for the LSTM, h otherwise.

    Parameters
    ----------
    record : GateRecord
    layer, batch : int
    units : sequence of int, optional
        Which units to draw (default: all up to 64, then the 16 with the largest range).
    time_labels : sequence, optional
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    cell, values = _series(record, layer, batch)
    key = "c" if cell == "lstm" else "h"
    v = values[key]  # (time, unit)
    T, H = v.shape
    shown: list[int]
    if units is not None:
        shown = [int(u) for u in units]
    elif H <= 64:
        shown = list(range(H))
    else:  # too many lines to read: the 16 units that move most
        shown = [int(u) for u in np.argsort(np.ptp(v, axis=0))[-16:]]
    fig, ax = plt.subplots(figsize=(min(12.0, 4.0 + 0.2 * T), 4.0))
    cmap = plt.get_cmap("viridis")
    for j, u in enumerate(shown):
        ax.plot(np.arange(T), v[:, u], color=cmap(j / max(1, len(shown) - 1)), lw=1.0, alpha=0.8)
    ax.axhline(0.0, color="0.5", lw=0.8)
    name = "cell state c" if key == "c" else "hidden state h"
    ax.set_ylabel(name)
    ax.set_title(
        title
        or f"{cell.upper()} {name} over the window, {len(shown)} units "
        f"(layer {_layer_name(record, layer)})",
        fontsize=11,
    )
    _time_axis(ax, T, time_labels)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _layer_name(record: Any, layer: int) -> int:
    n: int = record.values["h"].shape[0]
    return (layer % n) + 1


def _time_axis(ax: Any, T: int, labels: Sequence[Any] | None) -> None:
    step = max(1, T // 10)
    ticks = np.arange(0, T, step)
    ax.set_xticks(ticks)
    if labels is None:
        ax.set_xticklabels([str(t + 1) for t in ticks])
        ax.set_xlabel("step in the window")
    else:
        if len(labels) != T:
            raise ConfigError(f"time_labels has {len(labels)} entries for {T} steps")
        ax.set_xticklabels(
            [str(labels[int(t)])[:10] for t in ticks], rotation=30, ha="right", fontsize=8
        )
        ax.set_xlabel("date")


def write_gate_figures(
    record: Any, out: str | Path, *, time_labels: Sequence[Any] | None = None, subject: str = ""
) -> list[Path]:
    """Write ``gates_layer{k}.png`` and ``cell_state_layer{k}.png`` for every layer into `out`.

    Parameters
    ----------
    record : GateRecord
        One sequence (batch 0 is drawn).
    out : path
        Folder, created if needed.
    time_labels : sequence, optional
        One label per step (e.g. dates).
    subject : str
        What the window is, for the titles (e.g. "forecast for 2018-12-31").

    Returns
    -------
    list of Path
    """
    from gatecast.plots.forecasts import save_figure

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the gate figures")
    out.mkdir(parents=True, exist_ok=True)
    layers = record.values["h"].shape[0]
    cell = record.cell.upper()
    files = []
    for k in range(layers):
        where = f"layer {k + 1} of {layers}"
        heat = gate_heatmaps(
            record,
            layer=k,
            time_labels=time_labels,
            title=f"{cell} gates, {where}" + (f": {subject}" if subject else ""),
        )
        files.append(save_figure(heat, out / f"gates_layer{k + 1}.png"))
        line = cell_state_plot(
            record,
            layer=k,
            time_labels=time_labels,
            title=f"{cell} {'cell state c' if record.cell == 'lstm' else 'hidden state h'}"
            f", {where}" + (f": {subject}" if subject else ""),
        )
        files.append(save_figure(line, out / f"cell_state_layer{k + 1}.png"))
    return files


# --------------------------------------------------------------------------------------------------
# Gradient flow
# --------------------------------------------------------------------------------------------------


def gradient_flow_figure(
    k: np.ndarray,
    norms: Mapping[str, np.ndarray],
    *,
    labels: Mapping[str, str] | None = None,
    styles: Mapping[str, tuple[str, str]] | None = None,
    title: str = "",
) -> Figure:
    """Norm of dh_T/dx_{T-k} against k, log scale, one line per model.

    Parameters
    ----------
    k : ndarray
        Distances back in time.
    norms : dict of str to ndarray
        One curve per model, aligned with `k`.
    labels : dict of str to str, optional
        Legend text per model (default: the keys).
    styles : dict of str to (str, str), optional
        Line colour and style per model (default: a colour of its own, solid).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, (name, v) in enumerate(norms.items()):
        color, ls = (styles or {}).get(name, (f"C{i + 4}", "-"))
        v = np.where(np.asarray(v) > 0, v, np.nan)  # log scale: an exact zero has no place
        ax.plot(k, v, color=color, ls=ls, lw=1.8, label=(labels or {}).get(name, name))
    ax.set_yscale("log")
    ax.set_xlabel("k (steps back in time)")
    ax.set_ylabel(r"$\|\partial h_T / \partial x_{T-k}\|$")
    ax.axvline(50, color="0.6", lw=0.8, ls="--")
    ax.set_title(title or "How far back does the gradient reach?", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig

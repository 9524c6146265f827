"""Diagrams of recurrent cells (RNN, LSTM, GRU): inputs, gates, state paths and outputs, with the
equations in PyTorch's convention below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from gatecast.errors import ConfigError

# One colour per role, used by every diagram.
SIGMOID_COLOR = "#f4c27a"  # gates squashed to (0, 1)
TANH_COLOR = "#9ecae1"  # candidates and outputs squashed to (-1, 1)
OP_COLOR = "#fde0dd"  # element-wise operations
STATE_COLOR = "#31a354"  # the carried state (c for the LSTM, h otherwise)
WIRE_COLOR = "#444444"
FRAME_COLOR = "#f7f7f7"

EQUATIONS = {
    "lstm": [
        r"$i = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})$     "
        r"$f = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf})$",
        r"$g = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})$     "
        r"$o = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})$",
        r"$c_t = f \odot c_{t-1} + i \odot g$          $h_t = o \odot \tanh(c_t)$",
    ],
    "gru": [
        r"$r = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})$     "
        r"$z = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})$",
        r"$n = \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn}))$",
        r"$h_t = (1 - z) \odot n + z \odot h_{t-1}$",
    ],
    "rnn": [
        r"$h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$",
        r"A gradient reaches $h_{t-k}$ only through $k$ products with $W_{hh}$ and $\tanh'$: "
        "it shrinks or explodes with $k$.",
    ],
}


class _Canvas:
    """Drawing vocabulary for cell diagrams: gate boxes, operation circles, wires with arrows."""

    def __init__(self, ax: Any) -> None:
        self.ax = ax

    def gate(self, x: float, y: float, symbol: str, label: str, color: str) -> None:
        w, h = 2 * GATE_HALF_W, 2 * GATE_HALF
        self.ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.02,rounding_size=0.12",
                fc=color,
                ec=WIRE_COLOR,
                lw=1.3,
                zorder=3,
            )
        )
        self.ax.text(
            x, y + (0.13 if label else 0.0), symbol, ha="center", va="center", fontsize=14, zorder=4
        )
        if label:
            self.ax.text(
                x, y - 0.22, label, ha="center", va="center", fontsize=8.5, color="0.2", zorder=4
            )

    def op(self, x: float, y: float, symbol: str, r: float = 0.26) -> None:
        self.ax.add_patch(Circle((x, y), r, fc=OP_COLOR, ec=WIRE_COLOR, lw=1.3, zorder=3))
        self.ax.text(
            x,
            y,
            symbol,
            ha="center",
            va="center",
            fontsize=13 if len(symbol) == 1 else 10,
            zorder=4,
        )

    def wire(
        self,
        points: Sequence[tuple[float, float]],
        *,
        arrow: bool = True,
        color: str = WIRE_COLOR,
        lw: float = 1.6,
        bridge: bool = False,
    ) -> None:
        """A polyline, with an arrowhead at its end unless `arrow` is False.

        With `bridge`, the wire is drawn over a halo of the background colour, so that it visibly
        passes over the wires it crosses instead of joining them.
        """
        pts = np.asarray(points, dtype=float)
        halo = [patheffects.Stroke(linewidth=lw + 5, foreground=FRAME_COLOR), patheffects.Normal()]
        effects = halo if bridge else None
        if len(pts) > 2:
            self.ax.plot(
                pts[:-1, 0],
                pts[:-1, 1],
                color=color,
                lw=lw,
                zorder=2.5 if bridge else 1,
                solid_capstyle="round",
                path_effects=effects,
            )
        start, end = pts[-2], pts[-1]
        style = "-|>" if arrow else "-"
        self.ax.add_patch(
            FancyArrowPatch(
                tuple(start),
                tuple(end),
                arrowstyle=style,
                mutation_scale=14,
                color=color,
                lw=lw,
                zorder=2.5 if bridge else 2,
                shrinkA=0,
                shrinkB=0,
                path_effects=effects,
            )
        )

    def dot(self, x: float, y: float, color: str = WIRE_COLOR) -> None:
        self.ax.add_patch(Circle((x, y), 0.06, fc=color, ec=color, zorder=3))

    def label(self, x: float, y: float, text: str, **kw: Any) -> None:
        kw.setdefault("fontsize", 13)
        self.ax.text(x, y, text, ha=kw.pop("ha", "center"), va=kw.pop("va", "center"), **kw)

    def frame(self, x0: float, y0: float, x1: float, y1: float, title: str) -> None:
        self.ax.add_patch(
            FancyBboxPatch(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                boxstyle="round,pad=0.02,rounding_size=0.35",
                fc=FRAME_COLOR,
                ec="0.55",
                lw=1.2,
                zorder=0,
            )
        )
        self.ax.text(x0 + 0.2, y1 - 0.25, title, ha="left", va="top", fontsize=10, color="0.4")


R = 0.26  # radius of an operation circle; wires stop at its edge
GATE_HALF = 0.42  # half height of a gate box
GATE_HALF_W = 0.6  # half width of a gate box


def _inputs(
    c: _Canvas, ybus: float, x_join: float, x_end: float, *, h_from_top: float | None = None
) -> None:
    """h_{t-1} (from the left, or down from the state line) and x_t (from below) join on one bus."""
    if h_from_top is None:
        c.label(0.05, ybus, r"$h_{t-1}$", ha="left", color=STATE_COLOR)
        c.wire([(0.75, ybus), (x_join, ybus)], arrow=False, color=STATE_COLOR)
    else:
        c.dot(1.5, h_from_top)
        c.wire([(1.5, h_from_top), (1.5, ybus), (x_join, ybus)], arrow=False, color=STATE_COLOR)
    c.label(x_join, -0.2, r"$x_t$")
    c.wire([(x_join, 0.05), (x_join, ybus)], arrow=False)
    c.dot(x_join, ybus)
    c.wire([(x_join, ybus), (x_end, ybus)], arrow=False)
    c.label(
        x_join + 0.12,
        ybus - 0.1,
        r"$[h_{t-1}, x_t]$",
        fontsize=9,
        color="0.35",
        ha="left",
        va="top",
    )


def _state_line(c: _Canvas, y: float, x_times: float, x_plus: float, state: str) -> None:
    """The carried state's line at height ``y``: ``state``_{t-1} in on the left, scaled at
    ``x_times`` (×), added to at ``x_plus`` (+), ``state``_t out on the right."""
    c.label(0.05, y, rf"${state}_{{t-1}}$", ha="left", color=STATE_COLOR)
    c.wire([(0.75, y), (x_times - R, y)], color=STATE_COLOR, lw=2.6)
    c.op(x_times, y, "×")
    c.wire([(x_times + R, y), (x_plus - R, y)], color=STATE_COLOR, lw=2.6)
    c.op(x_plus, y, "+")
    c.wire([(x_plus + R, y), (11.6, y)], color=STATE_COLOR, lw=2.6)
    c.label(11.65, y, rf"${state}_t$", ha="left", color=STATE_COLOR)


def _draw_lstm(c: _Canvas) -> None:
    yc, ybus, yg = 5.3, 1.25, 2.45  # cell-state line, input bus, gate row
    xf, xi, xg, xo, xt = 3.0, 4.6, 6.2, 7.8, 9.4
    c.frame(1.0, 0.6, 11.0, 6.0, "LSTM cell")
    # the cell state runs straight through, touched only by × (forget) and + (write)
    _state_line(c, yc, xf, xg, "c")
    # inputs, then one gate per branch of the bus
    _inputs(c, ybus, 1.9, xo)
    for x in (xf, xi, xg, xo):
        c.dot(x, ybus)
        c.wire([(x, ybus), (x, yg - GATE_HALF)])
    c.gate(xf, yg, "σ", "forget f", SIGMOID_COLOR)
    c.gate(xi, yg, "σ", "input i", SIGMOID_COLOR)
    c.gate(xg, yg, "tanh", "candidate g", TANH_COLOR)
    c.gate(xo, yg, "σ", "output o", SIGMOID_COLOR)
    # f scales the old cell state
    c.wire([(xf, yg + GATE_HALF), (xf, yc - R)])
    # i scales the candidate; the product is added to the cell
    yig = 3.9
    c.wire([(xi, yg + GATE_HALF), (xi, yig), (xg - R, yig)])
    c.wire([(xg, yg + GATE_HALF), (xg, yig - R)])
    c.op(xg, yig, "×")
    c.wire([(xg, yig + R), (xg, yc - R)])
    # h_t = o * tanh(c_t)
    c.dot(xt, yc)
    c.wire([(xt, yc), (xt, 4.15 + GATE_HALF)])
    c.gate(xt, 4.15, "tanh", "", TANH_COLOR)
    c.wire([(xt, 4.15 - GATE_HALF), (xt, yg + R)])
    c.wire([(xo + GATE_HALF_W, yg), (xt - R, yg)])
    c.op(xt, yg, "×")
    c.wire([(xt + R, yg), (10.4, yg), (10.4, ybus), (11.6, ybus)])
    c.label(11.65, ybus, r"$h_t$", ha="left")
    c.dot(10.4, yg)
    c.wire([(10.4, yg), (10.4, 6.7)])
    c.label(10.4, 6.95, r"$h_t$ (output)", fontsize=11)


def _draw_gru(c: _Canvas) -> None:
    yh, ybus, yg = 5.3, 1.25, 2.45
    xr, xz, xn, xm, x1 = 3.0, 4.6, 6.9, 8.3, 9.5
    c.frame(1.0, 0.25, 11.0, 6.0, "GRU cell")
    # the state line: h_t = z * h_{t-1} + (1 - z) * n
    _state_line(c, yh, xm, x1, "h")
    c.dot(10.4, yh)
    c.wire([(10.4, yh), (10.4, 6.7)])
    c.label(10.4, 6.95, r"$h_t$ (output)", fontsize=11)
    # h_{t-1} also feeds the gates: down to the bus, where x_t joins it
    _inputs(c, ybus, 1.9, xz, h_from_top=yh)
    for x in (xr, xz):
        c.dot(x, ybus)
        c.wire([(x, ybus), (x, yg - GATE_HALF)])
    c.gate(xr, yg, "σ", "reset r", SIGMOID_COLOR)
    c.gate(xz, yg, "σ", "update z", SIGMOID_COLOR)
    # r scales the recurrent part of the candidate: r * (W_hn h_{t-1} + b_hn)
    yn = 4.1
    c.wire([(xr, yg + GATE_HALF), (xr, yn - R)])
    c.dot(xr, yh)
    c.wire([(xr, yh), (xr, yn + R)], color=STATE_COLOR)
    c.label(xr + 0.12, yh - 0.45, r"$W_{hn} h_{t-1} + b_{hn}$", fontsize=9, ha="left", color="0.35")
    c.op(xr, yn, "×")
    c.wire([(xr + R, yn), (xn - GATE_HALF_W, yn)])
    # the candidate also reads x_t alone (W_in x_t + b_in)
    c.dot(1.9, 0.6)
    c.wire([(1.9, 0.6), (xn, 0.6), (xn, yn - GATE_HALF)])
    c.label(xn + 0.1, 0.8, r"$x_t$", fontsize=10, ha="left", color="0.35")
    c.gate(xn, yn, "tanh", "candidate n", TANH_COLOR)
    # z keeps that much of the old state and takes 1 - z of the candidate
    yz = 3.2
    c.wire([(xz, yg + GATE_HALF), (xz, yz), (xm, yz)], arrow=False)
    c.dot(xm, yz)
    c.wire([(xm, yz), (xm, yh - R)], bridge=True)
    c.wire([(xm, yz), (x1 - 0.3, yz)])
    c.op(x1, yz, "1−", r=0.3)
    c.wire([(x1, yz + 0.3), (x1, yn - R)])
    c.wire([(xn + GATE_HALF_W, yn), (x1 - R, yn)])
    c.op(x1, yn, "×")
    c.wire([(x1, yn + R), (x1, yh - R)])


def _draw_rnn(c: _Canvas) -> None:
    yh, ybus, ya = 4.6, 1.25, 2.9
    c.frame(1.0, 0.6, 9.0, 5.4, "RNN cell")
    _inputs(c, ybus, 2.6, 5.0)
    c.wire([(5.0, ybus), (5.0, ya - GATE_HALF)])
    c.gate(5.0, ya, "tanh", "", TANH_COLOR)
    c.label(
        5.75,
        ya,
        r"$a = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}$",
        fontsize=9,
        ha="left",
        color="0.35",
    )
    c.wire([(5.0, ya + GATE_HALF), (5.0, yh), (9.6, yh)], color=STATE_COLOR, lw=2.6)
    c.label(9.65, yh, r"$h_t$", ha="left", color=STATE_COLOR)
    c.dot(7.6, yh)
    c.wire([(7.6, yh), (7.6, 6.1)])
    c.label(7.6, 6.35, r"$h_t$ (output)", fontsize=11)


def cell_diagram(cell: str) -> Figure:
    """A diagram of one cell: inputs x_t, h_{t-1} (and c_{t-1}), gates, state paths and outputs.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}

    Returns
    -------
    matplotlib.figure.Figure
        The structure on top, the equations (PyTorch's convention) below.
    """
    key = str(cell).lower()
    draw = {"lstm": _draw_lstm, "gru": _draw_gru, "rnn": _draw_rnn}.get(key)
    if draw is None:
        raise ConfigError(f"unknown cell {cell!r}; choose lstm, gru or rnn")
    width = 12.6 if key != "rnn" else 10.6
    eqs = EQUATIONS[key]
    fig = plt.figure(figsize=(width * 0.85, 6.6 + 0.45 * len(eqs)))
    top = 0.45 * len(eqs) / (6.6 + 0.45 * len(eqs)) + 0.04
    ax = fig.add_axes((0.02, top, 0.96, 0.96 - top))
    draw(_Canvas(ax))
    ax.set_xlim(-0.1, width - 0.4)
    ax.set_ylim(-0.5, 7.2)
    ax.set_aspect("equal")
    ax.axis("off")
    for j, line in enumerate(eqs):
        fig.text(0.5, top - 0.045 - j * 0.05, line, ha="center", va="center", fontsize=12)
    legend = [
        (SIGMOID_COLOR, "σ gate: 0 = closed, 1 = open"),
        (TANH_COLOR, "tanh: values in (-1, 1)"),
        (OP_COLOR, "element-wise operation"),
    ]
    if key == "rnn":
        legend = legend[1:2]
    for j, (color, text) in enumerate(legend):
        ax.add_patch(
            FancyBboxPatch(
                (0.0 + j * 3.4, 6.55),
                0.35,
                0.3,
                boxstyle="round,pad=0.01",
                fc=color,
                ec=WIRE_COLOR,
                lw=1,
            )
        )
        ax.text(0.45 + j * 3.4, 6.7, text, va="center", fontsize=9)
    return fig

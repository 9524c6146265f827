"""How far back can a gradient reach? ||dh_T / dx_{T-k}|| for RNN, LSTM and GRU, in NumPy.

One forward and one backward pass per model give the whole curve: the batch holds `hidden` copies of
the same input sequence, and copy j back-propagates the unit vector e_j from h_T, so that the
gradient reaching x_{T-k} in copy j is row j of the Jacobian dh_T/dx_{T-k}. Its Frobenius norm is
the square root of the sum over the copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.artifacts import atomic_write_json
from gatecast.errors import ConfigError
from gatecast.nn import RecurrentStack, make_stack

#: The models compared, in plotting order: name -> (cell, description, line colour and style).
MODELS = {
    "rnn": ("rnn", "RNN, PyTorch's default init U(-1/sqrt(H), 1/sqrt(H))", ("C3", "-")),
    "lstm": ("lstm", "LSTM, PyTorch's default init (forget gate near 0.5)", ("C0", "-")),
    "gru": ("gru", "GRU, PyTorch's default init", ("C2", "-")),
    "lstm_forget_bias": ("lstm", "LSTM, forget-gate bias 1 (forget gate near 0.73)", ("C0", "--")),
    "rnn_large_init": ("rnn", "RNN, recurrent weights N(0, gain²/H): exploding", ("C3", ":")),
}


@dataclass(frozen=True)
class GradientFlowResult:
    """Norms of dh_T/dx_{T-k} for k = 1..steps, per model (see `MODELS`).

    Attributes
    ----------
    k : ndarray of int
        Distances back in time, 1..steps.
    norms : dict of str to ndarray
        Frobenius norm of the Jacobian dh_T/dx_{T-k}, one array per model, aligned with `k`.
    hidden, seed, large_gain : int, int, float
        The settings used.
    """

    k: np.ndarray
    norms: dict[str, np.ndarray]
    hidden: int
    seed: int
    large_gain: float
    descriptions: dict[str, str] = field(default_factory=dict)

    def at(self, k: int) -> dict[str, float]:
        """Each model's norm at distance `k`."""
        if not 1 <= k <= int(self.k[-1]):
            raise ConfigError(f"k = {k} is outside 1..{int(self.k[-1])}; run with more --steps")
        return {name: float(v[k - 1]) for name, v in self.norms.items()}

    def summary(self, ks: tuple[int, ...] = (1, 10, 25, 50, 100)) -> str:
        """A plain-text table of the norms at a few distances."""
        ks = tuple(k for k in ks if k <= int(self.k[-1]))
        width = max(len(n) for n in self.norms)
        lines = [f"{'model':<{width}}  " + "  ".join(f"{'k=' + str(k):>9}" for k in ks)]
        for name, v in self.norms.items():
            lines.append(f"{name:<{width}}  " + "  ".join(f"{v[k - 1]:9.2e}" for k in ks))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, descriptions and every curve."""
        return {
            "quantity": "Frobenius norm of dh_T / dx_{T-k}",
            "hidden": self.hidden,
            "seed": self.seed,
            "large_gain": self.large_gain,
            "k": self.k.tolist(),
            "models": {
                name: {"description": self.descriptions.get(name, name), "norm": v.tolist()}
                for name, v in self.norms.items()
            },
        }


def jacobian_norms(stack: RecurrentStack, x: np.ndarray) -> np.ndarray:
    """||dh_T / dx_t||_F for every t of one sequence x (time, features); h_T is the top layer's.

    Returns
    -------
    ndarray, shape (time,)
        Entry t is the norm for input step t; the last entry is k = 0, the first k = time - 1.
    """
    H = stack.hidden_size
    batch = np.repeat(np.asarray(x, dtype=stack.dtype)[None], H, axis=0)  # one copy per unit of h_T
    out = stack.forward(batch)
    dh = np.zeros((stack.num_layers, H, H), stack.dtype)
    dh[-1] = np.eye(H)  # copy j asks for d h_T[j]
    d_state = (dh, np.zeros_like(dh)) if stack.has_cell_state else dh
    dx = stack.backward(out.cache, None, d_state).x  # (H, time, features)
    norms: np.ndarray = np.sqrt(np.einsum("jtf,jtf->t", dx, dx))
    return norms


def gradient_flow(
    steps: int = 100, seed: int = 0, *, hidden: int = 50, large_gain: float = 2.0
) -> GradientFlowResult:
    """Measure how the gradient of h_T with respect to past inputs decays (or explodes) with k.

    Every model reads the same sequence of standard normal inputs (one feature, as in a univariate
    forecast) of length ``steps + 1``, with one layer of `hidden` units.

    Parameters
    ----------
    steps : int, default 100
        The largest distance k.
    seed : int, default 0
        Seeds the inputs and every model's weights.
    hidden : int, default 50
    large_gain : float, default 2.0
        The exploding RNN's recurrent weights are N(0, large_gain^2 / hidden): spectral radius about
        `large_gain`, so products of Jacobians grow instead of shrink.

    Returns
    -------
    GradientFlowResult

    Examples
    --------
    >>> res = gradient_flow(steps=50)
    >>> res.at(50)["lstm_forget_bias"] > 100 * res.at(50)["rnn"]
    True
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000:
        raise ConfigError(f"steps must be an integer in 1..10000, got {steps!r}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= 1024:
        raise ConfigError(f"hidden must be an integer in 1..1024, got {hidden!r}")
    if not large_gain > 0:
        raise ConfigError(f"large_gain must be > 0, got {large_gain!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps + 1, 1))
    models = {name: make_stack(cell, 1, hidden, seed=seed) for name, (cell, _, _) in MODELS.items()}
    H = hidden
    # Forget-gate bias 1 (in bias_ih; bias_hh's slice zeroed): f starts near 0.73 instead of 0.5.
    models["lstm_forget_bias"].params["bias_ih_l0"][H : 2 * H] = 1.0
    models["lstm_forget_bias"].params["bias_hh_l0"][H : 2 * H] = 0.0
    w = np.random.default_rng(seed + 1).normal(0.0, large_gain / np.sqrt(H), size=(H, H))
    models["rnn_large_init"].params["weight_hh_l0"][...] = w
    norms = {
        name: jacobian_norms(stack, x)[::-1][1:] for name, stack in models.items()
    }  # k = 1..steps
    descriptions = {
        name: desc.replace("gain", f"{large_gain:g}") for name, (_, desc, _) in MODELS.items()
    }
    return GradientFlowResult(
        np.arange(1, steps + 1), norms, hidden, seed, large_gain, descriptions
    )


def write_gradient_flow(result: GradientFlowResult, out: str | Path) -> list[Path]:
    """Write ``gradient_flow.png`` (log-scale curves) and ``gradient_flow.json`` into `out`."""
    from gatecast.plots.cells import gradient_flow_figure
    from gatecast.plots.forecasts import save_figure

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for gradient_flow.png and .json")
    out.mkdir(parents=True, exist_ok=True)
    fig = gradient_flow_figure(
        result.k,
        result.norms,
        labels=result.descriptions,
        styles={name: style for name, (_, _, style) in MODELS.items()},
        title=f"Gradient of $h_T$ reaching $x_{{T-k}}$: one layer of {result.hidden} units, "
        f"same inputs for every model (seed {result.seed})",
    )
    png = save_figure(fig, out / "gradient_flow.png")
    path = out / "gradient_flow.json"
    atomic_write_json(path, result.to_dict())
    return [png, path]


def read_gradient_flow(path: str | Path) -> GradientFlowResult:
    """Read a ``gradient_flow.json`` written by `write_gradient_flow`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    norms = {name: np.asarray(m["norm"]) for name, m in data["models"].items()}
    descriptions = {name: m["description"] for name, m in data["models"].items()}
    return GradientFlowResult(
        np.asarray(data["k"]), norms, data["hidden"], data["seed"], data["large_gain"], descriptions
    )

"""A recurrent stack plus a linear head on the last step's output: a window in, a forecast out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.linear import Linear
from gatecast.nn.losses import bce_with_logits_loss, mse_loss
from gatecast.nn.recurrent import Cache, RecurrentStack, State, make_stack

Array = np.ndarray
LOSSES = {"mse": mse_loss, "bce": bce_with_logits_loss}


@dataclass
class NetCache:
    """What `RecurrentNet.backward` needs from `forward`."""

    rnn: Cache
    last: Array  # (batch, hidden): the top layer's h at each sequence's last valid step


class RecurrentNet:
    """`RNN`, `LSTM` or `GRU` stack followed by `Linear` on the top layer's last output.

    The NumPy twin of the torch module inside gatecast's recurrent forecaster: parameters are named
    ``rnn.weight_ih_l0`` ... and ``head.weight``, ``head.bias``, as in a gatecast model folder.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
    input_size, hidden_size, num_layers : int
    output_size : int, default 1
    seed : int or numpy.random.Generator, default 0
        Seeds the stack, then the head.
    dtype : float32 or float64, default float64

    Examples
    --------
    >>> net = RecurrentNet("lstm", input_size=1, hidden_size=16, seed=0)
    >>> x, y = np.zeros((8, 20, 1)), np.zeros((8, 1))
    >>> loss, grads = net.loss_and_grads(x, y)
    >>> sorted(grads) == sorted(net.params)
    True
    """

    def __init__(
        self,
        cell: str = "lstm",
        input_size: int = 1,
        hidden_size: int = 50,
        num_layers: int = 1,
        output_size: int = 1,
        *,
        seed: int | np.random.Generator = 0,
        dtype: Any = np.float64,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.rnn: RecurrentStack = make_stack(
            cell, input_size, hidden_size, num_layers, seed=rng, dtype=dtype
        )
        self.head = Linear(hidden_size, output_size, seed=rng, dtype=dtype)
        self.dtype = self.rnn.dtype

    @property
    def cell(self) -> str:
        return self.rnn.cell

    def __repr__(self) -> str:
        return f"RecurrentNet({self.rnn!r}, {self.head!r})"

    @property
    def params(self) -> dict[str, Array]:
        """All parameters by their model-folder names (the arrays themselves, not copies)."""
        out = {f"rnn.{k}": v for k, v in self.rnn.params.items()}
        out.update({f"head.{k}": v for k, v in self.head.params.items()})
        return out

    def load_params(self, params: Mapping[str, Array]) -> RecurrentNet:
        """Copy parameters in by their model-folder names (in place); returns self."""
        self.rnn.load_params({k[4:]: v for k, v in params.items() if k.startswith("rnn.")})
        self.head.load_params({k[5:]: v for k, v in params.items() if k.startswith("head.")})
        return self

    def __call__(self, x: Array, *, lengths: Any = None) -> Array:
        """Forecasts (batch, output_size) for windows x of shape (batch, time, input_size)."""
        return self.forward(x, lengths=lengths)[0]

    def forward(
        self, x: Array, state: State | None = None, *, lengths: Any = None
    ) -> tuple[Array, NetCache]:
        """Forecasts (batch, output_size) and the cache for `backward`."""
        out = self.rnn.forward(x, state, lengths=lengths)
        h = out.state[0] if isinstance(out.state, tuple) else out.state
        last = h[-1]  # equals output[:, -1] for full-length sequences
        return self.head.forward(last), NetCache(out.cache, last)

    def backward(self, dy: Array, cache: NetCache) -> dict[str, Array]:
        """Gradients of every parameter (model-folder names) from dy = dloss/dforecast."""
        head_grads, d_last = self.head.backward(dy, cache.last)
        rnn = self.rnn
        dh = np.zeros((rnn.num_layers, cache.rnn.batch, rnn.hidden_size), self.dtype)
        dh[-1] = d_last  # the head reads the top layer's final h only
        d_state: State = (dh, np.zeros_like(dh)) if rnn.has_cell_state else dh
        g = rnn.backward(cache.rnn, None, d_state)
        grads = {f"rnn.{k}": v for k, v in g.params.items()}
        grads.update({f"head.{k}": v for k, v in head_grads.items()})
        return grads

    def loss_and_grads(
        self, x: Array, y: Array, loss: str = "mse", *, lengths: Any = None
    ) -> tuple[float, dict[str, Array]]:
        """Loss of the forecasts of `x` against `y` ("mse" or "bce" on logits) and its gradients."""
        if loss not in LOSSES:
            raise ConfigError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
        pred, cache = self.forward(x, lengths=lengths)
        y = np.asarray(y, self.dtype).reshape(pred.shape)
        value, d_pred = LOSSES[loss](pred, y)
        return value, self.backward(d_pred, cache)

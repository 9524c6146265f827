"""Engines: a model's weights run on scaled inputs, in NumPy (``gatecast.nn``) or torch.

Each engine answers the batch questions of the prediction pipeline (``forward_windows``,
``forward_sequence``) and the live ones of a stream (``step`` one tick, ``window`` one window,
``get_state``/``set_state``), and of a :class:`gatecast.serve.StreamSet` (``step_many``: one tick
of many instruments, their states held by the caller). Torch is imported only when a
:class:`TorchEngine` is made.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from gatecast.errors import ConfigError
from gatecast.inference.spec import ModelSpec
from gatecast.nn import RecurrentNet, Stepper
from gatecast.nn.stream import Backend

#: Windows per forward call in batch prediction (bounds the memory of one call).
BATCH = 4096


class Engine(Protocol):
    """What the pipeline and a :class:`gatecast.serve.stream.Stream` need from an engine."""

    layers: int
    hidden: int

    def forward_windows(self, X: np.ndarray) -> np.ndarray: ...

    def forward_sequence(self, X: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...

    def step(self, z: np.ndarray) -> float: ...

    def window(self, Z: np.ndarray) -> float: ...

    def get_state(self) -> tuple[np.ndarray, np.ndarray]: ...

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None: ...


class BatchEngine(Engine, Protocol):
    """An engine that also ticks many instruments at once (what a StreamSet runs on)."""

    dtype: np.dtype[Any]  # of the states the caller keeps

    def step_many(self, Z: np.ndarray, h: np.ndarray, c: np.ndarray) -> np.ndarray: ...


#: The environment variable that picks the NumPy engine's tick backend ("numpy" or "numba").
BACKEND_VARIABLE = "GATECAST_STEPPER"


class NumpyEngine:
    """The weights in a ``gatecast.nn.RecurrentNet`` (``dtype``: float64 by default), ticks with
    its fused :class:`gatecast.nn.Stepper`; never imports torch.

    ``backend="numba"`` (the optional ``gatecast[fast]`` extra) runs each tick as one compiled
    kernel; left out, it is read from the environment variable ``GATECAST_STEPPER`` (default
    ``numpy``), so a deployment can choose it without code changes.
    """

    def __init__(
        self,
        spec: ModelSpec,
        tensors: Mapping[str, Any],
        dtype: Any = np.float64,
        backend: Backend | None = None,
    ) -> None:
        self.net = RecurrentNet(
            spec.cell, spec.input_size, spec.hidden, spec.layers, 1, dtype=dtype
        ).load_params(tensors)
        chosen: Any = backend if backend is not None else os.environ.get(BACKEND_VARIABLE, "numpy")
        self.stepper = Stepper(self.net.rnn, self.net.head, backend=chosen)
        self.dtype = np.dtype(dtype)
        self.layers, self.hidden = spec.layers, spec.hidden
        self.has_c = spec.cell == "lstm"
        self._s = self.stepper.initial_state()
        self._one = self.stepper.initial_state()  # step_many's scratch for a batch of one

    # batch
    def forward_windows(
        self,
        X: np.ndarray,
        bias_ih0: np.ndarray | None = None,
        head_bias: np.ndarray | None = None,
    ) -> np.ndarray:
        """Head outputs (n,) of windows X (n, window, inputs). ``bias_ih0`` (n, G*hidden) and
        ``head_bias`` (n,), if given, are each window's own first-layer input bias and head
        bias in place of the net's (a global model's instruments, :class:`InstrumentEngine`)."""
        if len(X) == 0:
            return np.zeros(0)
        if bias_ih0 is None and head_bias is None:
            outs = [self.net(np.asarray(X[s : s + BATCH]))[:, 0] for s in range(0, len(X), BATCH)]
            return np.concatenate(outs).astype(float)
        rnn, head = self.net.rnn, self.net.head.params
        outs = []
        for s in range(0, len(X), BATCH):
            bias = None if bias_ih0 is None else bias_ih0[s : s + BATCH]
            state = rnn.forward(np.asarray(X[s : s + BATCH]), bias_ih0=bias).state
            last = (state[0] if isinstance(state, tuple) else state)[-1]  # (n, hidden), top layer
            hb = head["bias"] if head_bias is None else head_bias[s : s + BATCH, None]
            outs.append((last @ head["weight"].T + hb)[:, 0])
        return np.concatenate(outs).astype(float)

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        out, _ = self.net.rnn(np.asarray(X)[None])  # one pass from a zero state
        return np.asarray(self.net.head(out[0])[:, 0], dtype=float)

    # live
    def reset(self) -> None:
        self._s = self.stepper.initial_state()

    def step(self, z: np.ndarray) -> float:
        y, _ = self.stepper.step(z, self._s)
        return float(y)

    def window(self, Z: np.ndarray) -> float:
        s = self.stepper.initial_state()
        y: Any = math.nan
        for z in Z:
            y, s = self.stepper.step(z, s)
        return float(y)

    def step_many(self, Z: np.ndarray, h: np.ndarray, c: np.ndarray) -> np.ndarray:
        """One tick of B instruments: inputs Z (B, inputs), states h and c (B, layers, hidden),
        updated in place (c unused but for the LSTM); the head outputs (B,).

        A batch of one runs the single-tick step, so one instrument ticked alone gets a
        :class:`Stream`'s numbers bit for bit (larger batches sum in another order: within
        ~1e-15 in float64).
        """
        if len(Z) == 1:
            one = self._one
            for k in range(self.layers):
                one._h[k][...] = h[0, k]
                if self.has_c:
                    one._c[k][...] = c[0, k]
            y, _ = self.stepper.step(Z[0], one)
            for k in range(self.layers):
                h[0, k] = one._h[k]
                if self.has_c:
                    c[0, k] = one._c[k]
            return np.array([y], dtype=np.float64)
        return np.asarray(self.stepper.step_many(Z, h, c if self.has_c else None), np.float64)

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        s = self._s
        c = s.c if self.has_c else np.zeros((self.layers, self.hidden))
        return np.array(s.h, dtype=np.float64), np.array(c, dtype=np.float64)

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        self._s = self.stepper.initial_state(h, c if self.has_c else None)


class InstrumentEngine:
    """One instrument's view of a global model's shared weights (a :class:`NumpyEngine`): its
    own first-layer input bias (the shared bias plus its embedding) and head bias (plus the log
    of its variance level), the rest shared. Window mode only, as the global models are.

    A :class:`gatecast.serve.StreamSet` whose instruments are all views of one ``shared`` engine
    runs their windows as one batched forward (:meth:`NumpyEngine.forward_windows` with each
    row's biases) instead of one instrument at a time. A window on its own (a tick of one
    instrument) runs on the instrument's own weights (``spec``, ``tensors``: the biases folded
    in), in an engine made on first use, whose fused steps cost less than a batch of one.
    """

    def __init__(
        self,
        shared: NumpyEngine,
        spec: ModelSpec,
        tensors: Mapping[str, Any],
    ) -> None:
        self.shared, self.spec, self.tensors = shared, spec, tensors
        self.dtype = shared.dtype
        self.bias_ih0 = np.asarray(tensors["rnn.bias_ih_l0"], self.dtype)  # (G*hidden,)
        self.head_bias = float(np.asarray(tensors["head.bias"])[0])
        self.layers, self.hidden = shared.layers, shared.hidden
        self._own: NumpyEngine | None = None

    @property
    def own(self) -> NumpyEngine:
        """The instrument's own engine (its folded weights), made on first use."""
        if self._own is None:
            self._own = NumpyEngine(self.spec, self.tensors, self.dtype)
        return self._own

    def forward_windows(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        bias = np.broadcast_to(self.bias_ih0, (n, self.bias_ih0.size))
        return self.shared.forward_windows(X, bias, np.full(n, self.head_bias))

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        raise ConfigError("a global model's instrument runs windows only (window mode)")

    def reset(self) -> None:
        pass  # window mode: nothing is carried from tick to tick

    def step(self, z: np.ndarray) -> float:
        raise ConfigError("a global model's instrument runs windows only (window mode)")

    def step_many(self, Z: np.ndarray, h: np.ndarray, c: np.ndarray) -> np.ndarray:
        raise ConfigError("a global model's instrument runs windows only (window mode)")

    def window(self, Z: np.ndarray) -> float:
        return self.own.window(Z)

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros((self.layers, self.hidden))
        return zero, zero.copy()

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        pass


class TorchEngine:
    """A torch ``RecurrentNet`` (``gatecast.models.recurrent.net``) in its own dtype and device,
    under ``torch.no_grad``.

    A tick runs one ``LSTMCell``/``GRUCell``/``RNNCell`` per layer, sharing the stack's parameters
    (a full ``nn.LSTM`` call on one step costs about 3x more in fixed overhead); the cells are
    made on the first tick.
    """

    def __init__(self, net: Any) -> None:
        import torch

        self.torch = torch
        self.net = net
        rnn = net.rnn
        self.layers, self.hidden = rnn.num_layers, rnn.hidden_size
        self.has_c = isinstance(rnn, torch.nn.LSTM)
        self.dtype = np.dtype(np.float64)  # of the states a StreamSet keeps for it
        self.cells: list[Any] = []
        self._s: list[Any] = []

    @property
    def _param(self) -> Any:
        return next(self.net.parameters())

    # batch
    def forward_windows(self, X: np.ndarray) -> np.ndarray:
        torch, net, p = self.torch, self.net.eval(), self._param
        outs = [np.zeros(0)]
        with torch.no_grad():
            for s in range(0, len(X), BATCH):
                xb = torch.as_tensor(
                    np.ascontiguousarray(X[s : s + BATCH]), dtype=p.dtype, device=p.device
                )
                outs.append(net(xb)[:, 0].cpu().numpy())
        return np.concatenate(outs).astype(float)

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        torch, net, p = self.torch, self.net.eval(), self._param
        with torch.no_grad():
            xb = torch.tensor(np.asarray(X)[None], dtype=p.dtype, device=p.device)
            out, _ = net.forward_sequence(xb)
        return np.asarray(out[0, :, 0].cpu().numpy(), dtype=float)

    # live
    def _make_cells(self) -> None:
        nn, rnn = self.torch.nn, self.net.rnn
        for k in range(self.layers):
            n_in = rnn.input_size if k == 0 else rnn.hidden_size
            if isinstance(rnn, nn.LSTM):
                cell: Any = nn.LSTMCell(n_in, self.hidden)
            elif isinstance(rnn, nn.GRU):
                cell = nn.GRUCell(n_in, self.hidden)
            else:
                cell = nn.RNNCell(n_in, self.hidden, nonlinearity=rnn.nonlinearity)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(cell, name, getattr(rnn, f"{name}_l{k}"))  # shared, not copied
            self.cells.append(cell.eval())

    def reset(self) -> None:
        self.set_state(np.zeros((self.layers, self.hidden)), np.zeros((self.layers, self.hidden)))

    def step(self, z: np.ndarray) -> float:
        torch, p = self.torch, self._param
        with torch.no_grad():
            inp = torch.as_tensor(z, dtype=p.dtype, device=p.device).view(1, -1)
            s = self._s
            for k, cell in enumerate(self.cells):
                s[k] = cell(inp, s[k])
                inp = s[k][0] if self.has_c else s[k]
            return float(self.net.head(inp)[0, 0])

    def step_many(self, Z: np.ndarray, h: np.ndarray, c: np.ndarray) -> np.ndarray:
        """One tick of B instruments, as :meth:`NumpyEngine.step_many`: one batched cell call per
        layer."""
        if not self.cells:
            self._make_cells()
        torch, p = self.torch, self._param

        def t(a: np.ndarray) -> Any:
            return torch.as_tensor(a, dtype=p.dtype, device=p.device)

        with torch.no_grad():
            inp = t(np.asarray(Z))
            ht, ct = t(h), t(c)
            new = []
            for k, cell in enumerate(self.cells):
                s = cell(inp, (ht[:, k], ct[:, k]) if self.has_c else ht[:, k])
                new.append(s)
                inp = s[0] if self.has_c else s
            y = self.net.head(inp)[:, 0].cpu().numpy()
        for k, s in enumerate(new):
            h[:, k] = (s[0] if self.has_c else s).cpu().numpy()
            if self.has_c:
                c[:, k] = s[1].cpu().numpy()
        return np.asarray(y, dtype=np.float64)

    def window(self, Z: np.ndarray) -> float:
        torch, p = self.torch, self._param
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(Z, dtype=np.float64), dtype=p.dtype, device=p.device)
            return float(self.net.eval()(x[None])[0, 0])

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        def n(t: Any) -> np.ndarray:
            return np.asarray(t[0].detach().cpu().numpy(), dtype=np.float64)

        h = np.stack([n(s[0] if self.has_c else s) for s in self._s])
        c = np.stack([n(s[1]) for s in self._s]) if self.has_c else np.zeros_like(h)
        return h, c

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        if not self.cells:
            self._make_cells()
        torch, p = self.torch, self._param

        def t(a: np.ndarray) -> Any:
            return torch.as_tensor(a, dtype=p.dtype, device=p.device)[None, :].clone()

        self._s = [(t(h[k]), t(c[k])) if self.has_c else t(h[k]) for k in range(self.layers)]

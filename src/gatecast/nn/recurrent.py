"""Stacks of recurrent cells (RNN, LSTM, GRU) in NumPy, with PyTorch's parameter layout and order.

`forward` runs the cells of `gatecast.nn.cells` over time and layers and keeps a cache; `backward`
runs backpropagation through time on that cache and returns the gradient of every parameter, of the
input and of the initial state. Variable-length batches follow
``torch.nn.utils.rnn.pack_padded_sequence``: outputs past a sequence's length are zero and its final
state is the state at its last valid step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Union

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn import cells

Array = np.ndarray
#: The state of a stack: h of shape (layers, batch, hidden), or the pair (h, c) for the LSTM.
State = Union[Array, tuple[Array, Array]]  # noqa: UP007 - a runtime alias, read on Python 3.10 too

DIMS = ("layer", "batch", "time", "unit")
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class GateRecord:
    """Per-step activations of every layer, from ``forward(..., record=True)``.

    Every array in `values` has the axes `dims` = ("layer", "batch", "time", "unit"). Steps past a
    sequence's length (see `lengths`) hold NaN.

    Attributes
    ----------
    cell : str
        "rnn", "lstm" or "gru".
    values : dict of str to ndarray
        LSTM: i, f, g, o (gates), c (cell state), h (output). GRU: r, z, n, h. RNN: a
        (pre-activation), h.
    lengths : ndarray of int
        Valid steps of each sequence in the batch, shape (batch,).
    dims : tuple of str
        The names of the four axes of every array.
    """

    cell: str
    values: dict[str, Array]
    lengths: Array
    dims: tuple[str, ...] = DIMS

    def __getitem__(self, name: str) -> Array:
        return self.values[name]

    @property
    def names(self) -> tuple[str, ...]:
        """The recorded quantities, in the order of the cell's equations."""
        return tuple(self.values)

    def select(self, layer: int = -1, batch: int = 0) -> dict[str, Array]:
        """Arrays of one layer and one sequence, each of shape (time, unit), NaN steps dropped."""
        n = int(self.lengths[batch])
        return {k: v[layer, batch, :n] for k, v in self.values.items()}


@dataclass
class LayerCache:
    """What one layer's backward needs: its input, its states and each step's cache (time-major)."""

    x: Array  # (time, batch, input) the layer's input
    hs: Array  # (time + 1, batch, hidden): h_0 .. h_T as carried (held past a sequence's end)
    steps: list[tuple[Array, ...]] = field(default_factory=list)


@dataclass
class Cache:
    """Everything `backward` needs from one `forward`."""

    layers: list[LayerCache]
    mask: Array | None  # (time, batch, 1) True where a step is inside its sequence; None: all are
    batch: int
    time: int


class Forward(NamedTuple):
    """Result of `forward`: outputs, final state, cache for `backward`, optional gate record."""

    output: Array
    state: State
    cache: Cache
    record: GateRecord | None


class Gradients(NamedTuple):
    """Result of `backward`: gradients of the parameters (by name), input and initial state."""

    params: dict[str, Array]
    x: Array
    state: State


def as_dtype(dtype: Any) -> np.dtype[Any]:
    """Check a parameter dtype: float32 or float64."""
    dt: np.dtype[Any] = np.dtype(dtype)
    if dt not in DTYPES:
        raise ConfigError(f"dtype {dt} is not supported by gatecast.nn; use float32 or float64")
    return dt


def check_size(name: str, value: int, minimum: int = 1) -> int:
    """Check a size parameter: an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class RecurrentStack:
    """A stack of `num_layers` recurrent layers; the base of `RNN`, `LSTM` and `GRU`.

    Parameters
    ----------
    input_size : int
        Features per time step.
    hidden_size : int
        Units per layer.
    num_layers : int, default 1
        Layers; layer k > 0 reads the outputs of layer k - 1.
    seed : int or numpy.random.Generator, default 0
        Draws every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch does.
    dtype : float32 or float64, default float64
        Dtype of the parameters; inputs are cast to it and every result has it.

    Attributes
    ----------
    params : dict of str to ndarray
        ``weight_ih_l{k}`` (G*hidden, input), ``weight_hh_l{k}`` (G*hidden, hidden),
        ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*hidden,), in PyTorch's order; G = 1 (RNN), 4 (LSTM), 3
        (GRU).
    """

    cell: ClassVar[str]
    gates: ClassVar[int]
    has_cell_state: ClassVar[bool] = False
    #: recorded quantities and where each sits in a step's cache ("h" comes from the carried state)
    record_fields: ClassVar[dict[str, int]]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        seed: int | np.random.Generator = 0,
        dtype: Any = np.float64,
    ) -> None:
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.num_layers = check_size("num_layers", num_layers)
        self.dtype = as_dtype(dtype)
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        G, H = self.gates, self.hidden_size
        self.params: dict[str, Array] = {}
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else H
            shapes = {
                "weight_ih": (G * H, n_in),
                "weight_hh": (G * H, H),
                "bias_ih": (G * H,),
                "bias_hh": (G * H,),
            }
            for name, shape in shapes.items():
                self.params[f"{name}_l{layer}"] = rng.uniform(-k, k, shape).astype(self.dtype)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"num_layers={self.num_layers}, dtype={self.dtype.name})"
        )

    # -- parameters --------------------------------------------------------------------------------

    def weights(self, layer: int) -> tuple[Array, Array, Array, Array]:
        """(W_ih, W_hh, b_ih, b_hh) of one layer."""
        p = self.params
        return (
            p[f"weight_ih_l{layer}"],
            p[f"weight_hh_l{layer}"],
            p[f"bias_ih_l{layer}"],
            p[f"bias_hh_l{layer}"],
        )

    def load_params(self, params: Mapping[str, Array]) -> RecurrentStack:
        """Copy parameters in by name (shapes must match); returns self."""
        for name, old in self.params.items():
            if name not in params:
                raise ConfigError(
                    f"parameter {name!r} is missing; the stack needs {list(self.params)}"
                )
            new = np.asarray(params[name])
            if new.shape != old.shape:
                raise ConfigError(
                    f"parameter {name!r} has shape {new.shape}, expected {old.shape} for {self!r}"
                )
            old[...] = new  # in place, so optimisers holding these arrays see the new values
        return self

    def zero_state(self, batch: int) -> State:
        """The default initial state: zeros (layers, batch, hidden), a pair of them for the LSTM."""
        h = np.zeros((self.num_layers, batch, self.hidden_size), self.dtype)
        return (h, h.copy()) if self.has_cell_state else h

    # -- the cell, one step (subclasses bind the functions of gatecast.nn.cells) -------------------

    def _step(
        self, gi: Array, state: tuple[Array, ...], W_hh: Array, b_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple[Array, ...]]:
        raise NotImplementedError

    def _step_backward(
        self, dstate: tuple[Array, ...], cache: tuple[Array, ...], W_hh: Array
    ) -> tuple[Array, Array, tuple[Array, ...]]:
        raise NotImplementedError

    # -- forward -----------------------------------------------------------------------------------

    def __call__(
        self, x: Array, state: State | None = None, *, lengths: Any = None
    ) -> tuple[Array, State]:
        """Outputs and final state, like calling a torch module; see `forward`."""
        out = self.forward(x, state, lengths=lengths)
        return out.output, out.state

    def forward(
        self,
        x: Array,
        state: State | None = None,
        *,
        lengths: Any = None,
        record: bool = False,
        bias_ih0: Array | None = None,
    ) -> Forward:
        """Run the stack over a batch of sequences.

        Parameters
        ----------
        x : array_like, shape (batch, time, input_size)
            Input sequences, batch first.
        state : ndarray or (ndarray, ndarray), optional
            Initial h of shape (layers, batch, hidden), or (h0, c0) for the LSTM; zeros if omitted.
        lengths : array_like of int, shape (batch,), optional
            Valid steps of each sequence (1..time); the rest of the row is padding.
        record : bool, default False
            Also return every step's gate activations as a `GateRecord`.
        bias_ih0 : array_like, shape (batch, G*hidden), optional
            Each sequence's own first-layer input bias, in place of ``bias_ih_l0`` (a global
            model's instruments: one set of weights, each its own bias).

        Returns
        -------
        Forward
            ``output`` (batch, time, hidden), top layer's h at every step (zero past a length);
            ``state``, the final state (at each sequence's last valid step); ``cache`` for
            `backward`; ``record`` (None unless `record`).

        Examples
        --------
        >>> lstm = LSTM(input_size=3, hidden_size=8, num_layers=2, seed=0)
        >>> y, (h, c), cache, _ = lstm.forward(np.ones((4, 10, 3)))
        >>> y.shape, h.shape
        ((4, 10, 8), (2, 4, 8))
        """
        x = self._check_input(x)
        B, T, _ = x.shape
        init = self._split_state(state, B)
        mask = _mask(lengths, B, T)
        bias = None if bias_ih0 is None else self._check_bias(bias_ih0, B)
        inp = np.ascontiguousarray(x.transpose(1, 0, 2))  # time-major: one contiguous slab per step
        layer_caches, finals = [], []
        for layer in range(self.num_layers):
            inp, final, lc = self._layer_forward(
                layer, inp, init[layer], mask, bias if layer == 0 else None
            )
            layer_caches.append(lc)
            finals.append(final)
        cache = Cache(layer_caches, mask, B, T)
        output = np.ascontiguousarray(inp.transpose(1, 0, 2))
        rec = self._record(cache, lengths) if record else None
        return Forward(output, self._join_state(finals), cache, rec)

    def _layer_forward(
        self,
        layer: int,
        x: Array,
        s0: tuple[Array, ...],
        mask: Array | None,
        bias: Array | None = None,
    ) -> tuple[Array, tuple[Array, ...], LayerCache]:
        W_ih, W_hh, b_ih, b_hh = self.weights(layer)
        T, B, _ = x.shape
        # the input half of every step at once: it does not depend on h; (T, B, G*H)
        gi = x @ W_ih.T + (b_ih if bias is None else bias[None])
        out = np.zeros((T, B, self.hidden_size), self.dtype)
        lc = LayerCache(x=x, hs=np.empty((T + 1, B, self.hidden_size), self.dtype))
        lc.hs[0] = s0[0]
        state = s0
        for t in range(T):
            h, new, step_cache = self._step(gi[t], state, W_hh, b_hh)
            if mask is None:
                out[t] = h
                state = new
            else:  # a finished sequence keeps its state and outputs zero
                m = mask[t]
                out[t] = np.where(m, h, 0.0)
                state = tuple(np.where(m, n, s) for n, s in zip(new, state, strict=True))
            lc.hs[t + 1] = state[0]
            lc.steps.append(step_cache)
        return out, state, lc

    # -- backward ----------------------------------------------------------------------------------

    def backward(
        self, cache: Cache, d_output: Array | None = None, d_state: State | None = None
    ) -> Gradients:
        """Backpropagation through time.

        Parameters
        ----------
        cache : Cache
            From the `forward` being differentiated.
        d_output : ndarray, shape (batch, time, hidden), optional
            Gradient of the loss with respect to ``output`` (zeros if omitted).
        d_state : ndarray or (ndarray, ndarray), optional
            Gradient with respect to the final state, shaped like it (zeros if omitted).

        Returns
        -------
        Gradients
            ``params`` (a dict shaped like `params`), ``x`` (batch, time, input_size) and ``state``
            (shaped like the initial state).
        """
        B, T, H = cache.batch, cache.time, self.hidden_size
        if d_output is None:
            dy = np.zeros((T, B, H), self.dtype)
        else:
            d_output = np.asarray(d_output, self.dtype)
            if d_output.shape != (B, T, H):
                raise ConfigError(f"d_output has shape {d_output.shape}, expected {(B, T, H)}")
            dy = np.ascontiguousarray(d_output.transpose(1, 0, 2))
        d_final = self._split_state(d_state, B, name="d_state")
        grads: dict[str, Array] = {}
        d_init: list[tuple[Array, ...]] = [()] * self.num_layers
        mask = cache.mask
        for layer in reversed(range(self.num_layers)):
            lc = cache.layers[layer]
            W_ih, W_hh, _, _ = self.weights(layer)
            GH = W_hh.shape[0]
            d_gi = np.empty((T, B, GH), self.dtype)
            d_gh = np.empty((T, B, GH), self.dtype)
            ds = d_final[layer]  # gradient at the carried state after step t
            for t in reversed(range(T)):
                dh = dy[t] + ds[0]
                if mask is None:
                    d_gi[t], d_gh[t], ds = self._step_backward((dh, *ds[1:]), lc.steps[t], W_hh)
                else:  # past a sequence's end the cell did nothing: the state gradient passes by
                    m = mask[t]
                    d_cell = (np.where(m, dh, 0.0), *(np.where(m, d, 0.0) for d in ds[1:]))
                    d_gi[t], d_gh[t], d_prev = self._step_backward(d_cell, lc.steps[t], W_hh)
                    ds = tuple(p + np.where(m, 0.0, d) for p, d in zip(d_prev, ds, strict=True))
            # The weights are shared by all steps, so their gradients sum over time (and batch).
            gi2, gh2 = d_gi.reshape(T * B, GH), d_gh.reshape(T * B, GH)
            grads[f"weight_ih_l{layer}"] = gi2.T @ lc.x.reshape(T * B, -1)
            grads[f"weight_hh_l{layer}"] = gh2.T @ lc.hs[:-1].reshape(T * B, H)
            grads[f"bias_ih_l{layer}"] = gi2.sum(axis=0)
            grads[f"bias_hh_l{layer}"] = gh2.sum(axis=0)
            dy = d_gi @ W_ih  # gradient at this layer's input = the output of the layer below
            d_init[layer] = ds
        ordered = {name: grads[name] for name in self.params}
        dx = np.ascontiguousarray(dy.transpose(1, 0, 2))
        return Gradients(ordered, dx, self._join_state(d_init))

    # -- recording ---------------------------------------------------------------------------------

    def _record(self, cache: Cache, lengths: Any) -> GateRecord:
        B, T = cache.batch, cache.time
        values: dict[str, Array] = {}
        for name, index in self.record_fields.items():
            values[name] = np.stack(
                [np.stack([s[index] for s in lc.steps], axis=1) for lc in cache.layers]
            )
        values["h"] = np.stack([lc.hs[1:].transpose(1, 0, 2) for lc in cache.layers])
        lens = np.full(B, T) if lengths is None else np.asarray(lengths, dtype=np.int64).copy()
        if cache.mask is not None:
            pad = ~cache.mask[:, :, 0].T  # (batch, time)
            for v in values.values():
                v[:, pad] = np.nan
        return GateRecord(self.cell, values, lens)

    # -- checks ------------------------------------------------------------------------------------

    def _check_bias(self, bias: Any, batch: int) -> Array:
        b: Array = np.asarray(bias, dtype=self.dtype)
        want = (batch, self.gates * self.hidden_size)
        if b.shape != want:
            raise ConfigError(f"bias_ih0 has shape {b.shape}; expected {want} (batch, G*hidden)")
        return b

    def _check_input(self, x: Any) -> Array:
        a: Array = np.asarray(x, dtype=self.dtype)
        if a.ndim != 3 or a.shape[2] != self.input_size or a.shape[0] < 1 or a.shape[1] < 1:
            raise ConfigError(
                f"input has shape {a.shape}; {type(self).__name__} expects (batch, time, "
                f"{self.input_size}) with batch, time >= 1 (batch first, as torch's "
                "batch_first=True)"
            )
        return a

    def _split_state(
        self, state: State | None, batch: int, name: str = "state"
    ) -> list[tuple[Array, ...]]:
        """Public state -> one tuple (h,) or (h, c) per layer."""
        shape = (self.num_layers, batch, self.hidden_size)
        if state is None:
            parts = [np.zeros(shape, self.dtype) for _ in range(1 + self.has_cell_state)]
        else:
            raw = state if isinstance(state, (tuple, list)) else (state,)
            if len(raw) != 1 + self.has_cell_state:
                want = "(h, c)" if self.has_cell_state else "h"
                raise ConfigError(
                    f"{name} for {type(self).__name__} must be {want}, got {len(raw)} arrays"
                )
            parts = [np.asarray(s, dtype=self.dtype) for s in raw]
            for p in parts:
                if p.shape != shape:
                    raise ConfigError(
                        f"{name} has shape {p.shape}, expected (layers, batch, hidden) = {shape}"
                    )
        return [tuple(p[layer] for p in parts) for layer in range(self.num_layers)]

    def _join_state(self, per_layer: list[tuple[Array, ...]]) -> State:
        h = np.stack([s[0] for s in per_layer])
        return (h, np.stack([s[1] for s in per_layer])) if self.has_cell_state else h


def _mask(lengths: Any, batch: int, time: int) -> Array | None:
    """(time, batch, 1) boolean mask of valid steps, or None when every sequence is full length."""
    if lengths is None:
        return None
    lens = np.asarray(lengths)
    if lens.shape != (batch,) or not np.issubdtype(lens.dtype, np.integer):
        raise ConfigError(f"lengths must be {batch} integers (one per sequence), got {lengths!r}")
    if lens.min() < 1 or lens.max() > time:
        raise ConfigError(f"lengths must lie in 1..{time} (the padded length), got {lens.tolist()}")
    if (lens == time).all():
        return None
    return (np.arange(time)[:, None] < lens[None, :])[:, :, None]


class _HiddenOnly(RecurrentStack):
    """A stack whose state is h alone (RNN, GRU): its step and that step's backward are the
    cell's functions in :mod:`gatecast.nn.cells`, which the subclass binds."""

    #: The cell's step and its backward (``cells.rnn_step``, ``cells.rnn_step_backward``).
    cell_functions: ClassVar[
        tuple[
            Callable[[Array, Array, Array, Array], tuple[Array, tuple[Array, ...]]],
            Callable[[Array, tuple[Array, ...], Array], tuple[Array, Array, Array]],
        ]
    ]

    def _step(
        self, gi: Array, state: tuple[Array, ...], W_hh: Array, b_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple[Array, ...]]:
        step, _ = self.cell_functions
        h, cache = step(gi, state[0], W_hh, b_hh)
        return h, (h,), cache

    def _step_backward(
        self, dstate: tuple[Array, ...], cache: tuple[Array, ...], W_hh: Array
    ) -> tuple[Array, Array, tuple[Array, ...]]:
        _, step_backward = self.cell_functions
        d_gi, d_gh, dh_prev = step_backward(dstate[0], cache, W_hh)
        return d_gi, d_gh, (dh_prev,)


class RNN(_HiddenOnly):
    """Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), like ``torch.nn.RNN``."""

    cell = "rnn"
    gates = 1
    record_fields = {"a": 0}  # noqa: RUF012 - read-only class constant
    cell_functions = (cells.rnn_step, cells.rnn_step_backward)


class LSTM(RecurrentStack):
    """Long short-term memory, gates i, f, g, o in PyTorch's order; like ``torch.nn.LSTM``.

    The state is the pair (h, c), each of shape (layers, batch, hidden).
    """

    cell = "lstm"
    gates = 4
    has_cell_state = True
    record_fields = {"i": 1, "f": 2, "g": 3, "o": 4, "c": 5}  # noqa: RUF012

    def _step(
        self, gi: Array, state: tuple[Array, ...], W_hh: Array, b_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple[Array, ...]]:
        h, c, cache = cells.lstm_step(gi, state[0], state[1], W_hh, b_hh)
        return h, (h, c), cache

    def _step_backward(
        self, dstate: tuple[Array, ...], cache: tuple[Array, ...], W_hh: Array
    ) -> tuple[Array, Array, tuple[Array, ...]]:
        d_gi, d_gh, dh_prev, dc_prev = cells.lstm_step_backward(dstate[0], dstate[1], cache, W_hh)
        return d_gi, d_gh, (dh_prev, dc_prev)


class GRU(_HiddenOnly):
    """Gated recurrent unit, gates r, z, n in PyTorch's order and convention (``torch.nn.GRU``)."""

    cell = "gru"
    gates = 3
    record_fields = {"r": 1, "z": 2, "n": 3}  # noqa: RUF012
    cell_functions = (cells.gru_step, cells.gru_step_backward)


STACKS: dict[str, type[RecurrentStack]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def make_stack(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    seed: int | np.random.Generator = 0,
    dtype: Any = np.float64,
) -> RecurrentStack:
    """Build an `RNN`, `LSTM` or `GRU` by name ("rnn", "lstm", "gru", any case)."""
    key = str(cell).lower()
    if key not in STACKS:
        raise ConfigError(f"unknown cell {cell!r}; choose one of {sorted(STACKS)}")
    return STACKS[key](input_size, hidden_size, num_layers, seed=seed, dtype=dtype)

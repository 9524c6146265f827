"""Single-sample streaming inference: one ``step(x_t, state)`` per tick, O(1), with no allocations.

A stack's weights are rearranged once, so that each layer's step is one matrix-vector product and a
few in-place ufuncs on preallocated buffers (each NumPy call costs about half a microsecond here, so
the layout below exists to keep their number small):

* Each layer multiplies [x_t ; h_{t-1} ; 1] by [W_ih | W_hh | b]: one product, bias included.
* All layers' inputs and states live in one vector ``[x, h_1, 1, h_2, 1, ..., h_L, 1]``. Layer 1
  reads the slice [x, h_1, 1] and layer k > 1 the slice [h_{k-1}, 1, h_k] (so its columns are
  ordered [W_ih | b | W_hh]); each writes its new h_k in place (the product has already consumed
  the old one).
* sigmoid(a) = (1 + tanh(a/2)) / 2, and the rows of the sigmoid gates are pre-scaled by 1/2, so a
  single tanh call covers every gate of a layer.
* LSTM: each layer owns a work row [c, g, f, i, o]; the product fills [g, f, i, o], so one multiply
  gives [f c, i g] and one add gives the new c.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.linear import Linear
from gatecast.nn.recurrent import RecurrentStack

Array = np.ndarray


class StreamState:
    """The state of a `Stepper` stream; `Stepper.step` updates it in place (`copy` it to branch).

    A state belongs to the `Stepper` whose `initial_state` made it (it holds that stepper's weights).

    Attributes
    ----------
    buf : ndarray
        [x, h_1, 1, ..., h_L, 1]: the last input and every layer's h.
    work : ndarray, shape (layers, rows)
        Per-layer gate buffers; for the LSTM the first `hidden` entries of each row are its cell
        state c.
    steps : int
        Ticks taken since the initial state.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        buf: Array,
        work: Array,
        weights: list[Array],
        steps: int = 0,
    ) -> None:
        self.cell, self.input_size, self.hidden_size, self.num_layers = (
            cell,
            input_size,
            hidden_size,
            num_layers,
        )
        self.buf, self.work, self.steps = buf, work, steps
        self._weights = weights  # the stepper's fused weights (shared, read-only)
        I, H = input_size, hidden_size
        self._x = buf[:I]
        h_at = [I + k * (H + 1) for k in range(num_layers)]
        self._h = [buf[a : a + H] for a in h_at]
        self._top = buf[h_at[-1] :]  # [h_L, 1], for a head with its bias folded in
        self._c = [w[:H] for w in work]
        # Per layer: its weights and every view that a step touches, made once (slicing costs as
        # much as a small ufunc).
        reads = [buf[0 : I + H + 1]] + [
            buf[h_at[k - 1] : h_at[k] + H] for k in range(1, num_layers)
        ]
        self._layers: list[tuple[Array, ...]]
        if cell == "lstm":  # work row [c, g, f, i, o]
            self._layers = [
                (W, r, w[H:], w[2 * H :], w[2 * H : 4 * H], w[: 2 * H], w[:H], w[4 * H :], h)
                for W, r, w, h in zip(weights, reads, work, self._h, strict=True)
            ]
        elif cell == "gru":  # work row [r, u, gi_n, gh_n]
            self._layers = [
                (W, r, w, w[: 2 * H], w[:H], w[H : 2 * H], w[2 * H : 3 * H], w[3 * H :], h)
                for W, r, w, h in zip(weights, reads, work, self._h, strict=True)
            ]
        else:
            self._layers = [
                (W, r, w, h) for W, r, w, h in zip(weights, reads, work, self._h, strict=True)
            ]

    def copy(self) -> StreamState:
        """An independent copy (the stream can go on from both)."""
        return StreamState(
            self.cell,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.buf.copy(),
            self.work.copy(),
            self._weights,
            self.steps,
        )

    @property
    def h(self) -> Array:
        """Every layer's h, shape (layers, hidden) (a copy)."""
        return np.stack(self._h)

    @property
    def c(self) -> Array:
        """Every layer's LSTM cell state, shape (layers, hidden) (a copy)."""
        if self.cell != "lstm":
            raise ConfigError(f"a {self.cell.upper()} has no cell state c; only the LSTM does")
        return np.stack(self._c)


class Stepper:
    """Fast single-sample steps of a trained stack (and optional linear head).

    Parameters
    ----------
    stack : RNN, LSTM or GRU
        Its parameters are copied (later changes to the stack are not seen).
    head : Linear, optional
        When given, `step` returns the head's first output for the top layer's h, as a float.

    Examples
    --------
    >>> from gatecast.nn import LSTM
    >>> stepper = Stepper(LSTM(input_size=2, hidden_size=50, num_layers=2, seed=0))
    >>> state = stepper.initial_state()
    >>> h, state = stepper.step(np.array([0.1, -0.2]), state)
    >>> h.shape
    (50,)
    """

    def __init__(self, stack: RecurrentStack, head: Linear | None = None) -> None:
        self.cell = stack.cell
        self.input_size, self.hidden_size = stack.input_size, stack.hidden_size
        self.num_layers, self.dtype = stack.num_layers, stack.dtype
        H = self.hidden_size
        self.W = [
            np.ascontiguousarray(
                _fuse(self.cell, *stack.weights(k), H, first=k == 0), dtype=self.dtype
            )
            for k in range(self.num_layers)
        ]
        self._rows = {"lstm": 5 * H, "gru": 4 * H, "rnn": H}[self.cell]
        self.head_w: Array | None = None
        if head is not None:
            if head.in_features != H:
                raise ConfigError(f"the head takes {head.in_features} inputs, the stack gives {H}")
            w, b = head.params["weight"][0], head.params["bias"][:1]
            self.head_w = np.ascontiguousarray(np.concatenate([w, b]), dtype=self.dtype)
        self._tmp = np.empty(H, self.dtype)
        self._tmp2 = np.empty(2 * H, self.dtype)
        self._fc, self._ig = self._tmp2[:H], self._tmp2[H:]

    def initial_state(self, h0: Any = None, c0: Any = None) -> StreamState:
        """A zero state, or one from h0 (and c0 for the LSTM) of shape (layers, hidden)."""
        I, H, L = self.input_size, self.hidden_size, self.num_layers
        buf = np.zeros(I + L * (H + 1), self.dtype)
        buf[I + H :: H + 1] = 1.0  # the constant that multiplies each layer's bias column
        work = np.zeros((L, self._rows), self.dtype)
        state = StreamState(self.cell, I, H, L, buf, work, self.W)
        for name, value, targets in (("h0", h0, state._h), ("c0", c0, state._c)):
            if value is None:
                continue
            if name == "c0" and self.cell != "lstm":
                raise ConfigError(f"c0 was given, but a {self.cell.upper()} has no cell state")
            v = np.asarray(value, self.dtype)
            if v.size != L * H:
                raise ConfigError(
                    f"{name} must hold layers x hidden = {L} x {H} values, got shape {v.shape}"
                )
            for k, target in enumerate(targets):
                target[...] = v.reshape(L, H)[k]
        return state

    def step(self, x_t: Any, state: StreamState) -> tuple[Any, StreamState]:
        """Advance one tick.

        Parameters
        ----------
        x_t : float or array_like of shape (input_size,)
            This tick's features.
        state : StreamState
            From `initial_state` or a previous `step`; updated in place.

        Returns
        -------
        y : float or ndarray
            With a head, its output (float); otherwise the top layer's h, shape (hidden,): a view
            into the state that the next step overwrites (copy it to keep it).
        state : StreamState
            The same object, advanced.
        """
        if state._weights is not self.W:
            raise ConfigError("this state was made by another Stepper; use its own initial_state()")
        state._x[...] = x_t
        tanh, multiply, add, dot = np.tanh, np.multiply, np.add, np.dot
        tmp, fc_ig, fc, ig = self._tmp, self._tmp2, self._fc, self._ig
        if self.cell == "lstm":
            for W, xh1, z, sig, fi, cg, c, o, h in state._layers:
                dot(W, xh1, out=z)  # z = [g, f/2, i/2, o/2] pre-activations
                tanh(z, out=z)
                sig += 1.0
                sig *= 0.5  # f, i, o = sigmoid(...)
                multiply(fi, cg, out=fc_ig)  # [f * c_prev, i * g]
                add(fc, ig, out=c)
                tanh(c, out=tmp)
                multiply(o, tmp, out=h)  # h = o * tanh(c)
        elif self.cell == "gru":
            for W, xh1, z, sig, r, u, n, ghn, h in state._layers:
                dot(W, xh1, out=z)  # z = [r/2, u/2, gi_n, gh_n]
                tanh(sig, out=sig)
                sig += 1.0
                sig *= 0.5  # r, u = sigmoid(...)
                multiply(r, ghn, out=tmp)  # the reset gate scales W_hn h + b_hn
                n += tmp
                tanh(n, out=n)
                h -= n  # h = (1 - u) n + u h = n + u (h - n)
                h *= u
                h += n
        else:
            for W, xh1, z, h in state._layers:
                dot(W, xh1, out=z)
                tanh(z, out=h)
        state.steps += 1
        if self.head_w is None:
            return state._h[-1], state
        return float(dot(self.head_w, state._top)), state


def _fuse(
    cell: str, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array, H: int, *, first: bool
) -> Array:
    """One layer's weights as a single matrix, rows arranged and scaled for `Stepper.step`."""
    W_ih, W_hh = np.asarray(W_ih, np.float64), np.asarray(W_hh, np.float64)
    b_ih, b_hh = np.asarray(b_ih, np.float64), np.asarray(b_hh, np.float64)
    if cell == "lstm":
        rows = np.r_[2 * H : 3 * H, H : 2 * H, 0:H, 3 * H : 4 * H]  # g, f, i, o
        scale = np.r_[np.ones(H), np.full(3 * H, 0.5)]  # sigmoid(a) = (1 + tanh(a / 2)) / 2
        W_x, W_h, b = (
            W_ih[rows] * scale[:, None],
            W_hh[rows] * scale[:, None],
            (b_ih + b_hh)[rows] * scale,
        )
    elif cell == "gru":
        n_in = W_ih.shape[1]
        # rows: r/2, u/2 from both halves; then gi_n (input half only) and gh_n (recurrent half
        # only)
        W_x = np.concatenate([0.5 * W_ih[: 2 * H], W_ih[2 * H :], np.zeros((H, n_in))])
        W_h = np.concatenate([0.5 * W_hh[: 2 * H], np.zeros((H, H)), W_hh[2 * H :]])
        b = np.concatenate([0.5 * (b_ih + b_hh)[: 2 * H], b_ih[2 * H :], b_hh[2 * H :]])
    else:
        W_x, W_h, b = W_ih, W_hh, b_ih + b_hh
    parts = [W_x, W_h, b[:, None]] if first else [W_x, b[:, None], W_h]
    return np.concatenate(parts, axis=1)

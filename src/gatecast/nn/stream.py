"""Single-sample streaming inference: one ``step(x_t, state)`` per tick, O(1), with no allocations.

A stack's weights are rearranged once, so that each layer's step is one matrix-vector product and a
handful of in-place ufuncs on preallocated buffers:

* W_ih and W_hh are concatenated, [W_ih | W_hh], and multiply the concatenated [x_t ; h_{t-1}];
* all layers' inputs and states live in one vector ``[x, h_1, h_2, ...]``: layer k reads the slice
  [h_{k-1} ; h_k] and writes its new h_k in place (the product has already consumed the old one);
* sigmoid(a) = (1 + tanh(a/2)) / 2, and the rows of the sigmoid gates are pre-scaled by 1/2, so one
  tanh call covers every gate of a layer (LSTM rows are reordered i, f, o, g to make the sigmoid gates
  one slice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.linear import Linear
from gatecast.nn.recurrent import GRU, LSTM, RecurrentStack

Array = np.ndarray


@dataclass
class StreamState:
    """The state of a `Stepper`: one vector [x, h_1 .. h_L] and the LSTM cell states (layers, hidden).

    `step` updates it in place; `copy` it to branch a stream.
    """

    buf: Array
    c: Array
    steps: int = 0

    def copy(self) -> StreamState:
        return StreamState(self.buf.copy(), self.c.copy(), self.steps)


class Stepper:
    """Fast single-sample steps of a trained stack (and optional linear head).

    Parameters
    ----------
    stack : RNN, LSTM or GRU
        Its parameters are copied (later changes to the stack are not seen).
    head : Linear, optional
        When given, `step` returns the head's output for the top layer's h as a float (first output).

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
        I, H, L = self.input_size, self.hidden_size, self.num_layers
        self.W: list[Array] = []
        self.b: list[Array] = []
        for layer in range(L):
            W_ih, W_hh, b_ih, b_hh = (np.asarray(p, dtype=np.float64) for p in stack.weights(layer))
            W, b = _fuse(stack, W_ih, W_hh, b_ih, b_hh, H)
            self.W.append(np.ascontiguousarray(W, dtype=self.dtype))
            self.b.append(np.ascontiguousarray(b, dtype=self.dtype))
        # where each layer reads from and writes to in the state vector [x, h_1, ..., h_L]
        self._reads = [(0 if k == 0 else I + (k - 1) * H, I + (k + 1) * H) for k in range(L)]
        self._h_at = [(I + k * H, I + (k + 1) * H) for k in range(L)]
        self.head_w: Array | None = None
        self.head_b = 0.0
        if head is not None:
            if head.in_features != H:
                raise ConfigError(f"head takes {head.in_features} inputs, the stack gives {H}")
            self.head_w = np.ascontiguousarray(head.params["weight"][0], dtype=self.dtype)
            self.head_b = float(head.params["bias"][0])
        self._z = np.empty(self.W[0].shape[0], self.dtype)  # the gates' pre-activations
        self._tmp = np.empty(H, self.dtype)

    def initial_state(self, h0: Any = None, c0: Any = None) -> StreamState:
        """A zero state, or one from h0 (and c0) of shape (layers, hidden) or (layers, 1, hidden)."""
        I, H, L = self.input_size, self.hidden_size, self.num_layers
        state = StreamState(np.zeros(I + L * H, self.dtype), np.zeros((L, H), self.dtype))
        for name, value, target in (("h0", h0, state.buf[I:]), ("c0", c0, state.c)):
            if value is not None:
                v = np.asarray(value, self.dtype)
                if v.size != L * H:
                    raise ConfigError(f"{name} must hold layers x hidden = {L} x {H} values, got {v.shape}")
                target[...] = v.reshape(-1)
        return state

    def hidden(self, state: StreamState) -> Array:
        """The h of every layer, shape (layers, hidden) (a copy)."""
        return state.buf[self.input_size:].reshape(self.num_layers, self.hidden_size).copy()

    def step(self, x_t: Any, state: StreamState) -> tuple[Any, StreamState]:
        """Advance one tick.

        Parameters
        ----------
        x_t : array_like, shape (input_size,)
            This tick's features (a float when input_size is 1).
        state : StreamState
            From `initial_state` or a previous `step`; updated in place.

        Returns
        -------
        y : float or ndarray
            With a head, its output (float); otherwise the top layer's h, shape (hidden,): a view into
            the state, overwritten by the next step (copy it to keep it).
        state : StreamState
            The same object, advanced.
        """
        buf, c, z, tmp = state.buf, state.c, self._z, self._tmp
        buf[: self.input_size] = x_t
        H = self.hidden_size
        for k in range(self.num_layers):
            lo, hi = self._reads[k]
            h = buf[self._h_at[k][0] : self._h_at[k][1]]
            np.dot(self.W[k], buf[lo:hi], out=z)
            z += self.b[k]
            if self.cell == "lstm":
                # z = [i, f, o, g] / [2, 2, 2, 1]; one tanh for all, then (1 + t) / 2 for the sigmoids
                np.tanh(z, out=z)
                s = z[: 3 * H]
                s += 1.0
                s *= 0.5
                ck = c[k]
                ck *= z[H : 2 * H]  # c = f * c_prev ...
                np.multiply(z[:H], z[3 * H :], out=tmp)  # ... + i * g
                ck += tmp
                np.tanh(ck, out=tmp)
                np.multiply(z[2 * H : 3 * H], tmp, out=h)  # h = o * tanh(c)
            elif self.cell == "gru":
                # z = [r/2, z/2, gi_n, gh_n] (the last two from zero blocks of W)
                np.tanh(z[: 2 * H], out=z[: 2 * H])
                s = z[: 2 * H]
                s += 1.0
                s *= 0.5
                n = z[2 * H : 3 * H]
                np.multiply(z[:H], z[3 * H :], out=tmp)  # r * (W_hn h + b_hn)
                n += tmp
                np.tanh(n, out=n)
                # h = (1 - u) n + u h = n + u (h - n), with u the update gate
                h -= n
                h *= z[H : 2 * H]
                h += n
            else:
                np.tanh(z, out=h)
        state.steps += 1
        top = buf[self._h_at[-1][0] :]
        if self.head_w is None:
            return top, state
        return float(np.dot(self.head_w, top)) + self.head_b, state


def _fuse(stack: RecurrentStack, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array, H: int
          ) -> tuple[Array, Array]:
    """[W_ih | W_hh] and its bias, rows arranged and scaled for `Stepper.step`."""
    W = np.concatenate([W_ih, W_hh], axis=1)
    b = b_ih + b_hh
    if isinstance(stack, LSTM):
        order = np.r_[0:H, H : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]  # i, f, o, g
        scale = np.r_[np.full(3 * H, 0.5), np.ones(H)]
        return W[order] * scale[:, None], b[order] * scale
    if isinstance(stack, GRU):
        n_in = W_ih.shape[1]
        Wn_x = np.concatenate([W_ih[2 * H :], np.zeros((H, H))], axis=1)  # gi_n: input half only
        Wn_h = np.concatenate([np.zeros((H, n_in)), W_hh[2 * H :]], axis=1)  # gh_n: recurrent half only
        W = np.concatenate([0.5 * W[: 2 * H], Wn_x, Wn_h])
        b = np.concatenate([0.5 * b[: 2 * H], b_ih[2 * H :], b_hh[2 * H :]])
        return W, b
    return W, b

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

`Stepper.step_many` advances B independent streams at once (a market of instruments running one
model): states held by the caller as (B, layers, hidden) arrays, taken in blocks of rows that fit
the core's L2 cache, each layer one BLAS product ``[inp, h, 1] @ W`` per block and its gates
through exp (see `Stepper.__init__`). ``backend="numba"`` (the optional ``gatecast[fast]`` extra)
runs `step` as one compiled kernel instead of ~17 NumPy calls (about 5x faster for a 2x50 LSTM;
see `gatecast.nn.compiled`), and each block's activations in `step_many` as one compiled pass
(`gatecast.nn.compiled_many`); the NumPy path stays the reference they are tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.linear import Linear
from gatecast.nn.recurrent import RecurrentStack

Array = np.ndarray
#: How `Stepper.step` runs: NumPy ufuncs (the reference) or one numba kernel (``gatecast[fast]``).
Backend = Literal["numpy", "numba"]


class StreamState:
    """The state of a `Stepper` stream; `Stepper.step` updates it in place (`copy` it to branch).

    A state belongs to the `Stepper` whose `initial_state` made it (it holds that stepper's weights).

    Attributes
    ----------
    mem : ndarray
        ``[buf | work]``, the whole state in one array (what the numba kernel takes).
    buf : ndarray
        [x, h_1, 1, ..., h_L, 1]: the last input and every layer's h (a view of ``mem``).
    work : ndarray, shape (layers, rows)
        Per-layer gate buffers; for the LSTM the first `hidden` entries of each row are its cell
        state c (a view of ``mem``).
    steps : int
        Ticks taken since the initial state.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        mem: Array,
        rows: int,
        weights: list[Array],
        steps: int = 0,
    ) -> None:
        self.cell, self.input_size, self.hidden_size, self.num_layers = (
            cell,
            input_size,
            hidden_size,
            num_layers,
        )
        nb = input_size + num_layers * (hidden_size + 1)
        buf, work = mem[:nb], mem[nb:].reshape(num_layers, rows)
        self.mem, self.buf, self.work, self.steps = mem, buf, work, steps
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
            self.mem.copy(),
            self.work.shape[1],
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
    backend : {"numpy", "numba"}
        How `step` runs: NumPy ufuncs on preallocated buffers, or one compiled numba kernel per
        tick (needs the optional ``gatecast[fast]`` extra; compiled on first use, cached on
        disk). Both give the same numbers to rounding; `step_many` takes its products from BLAS
        either way, and its activations from one compiled pass per block with numba.

    Examples
    --------
    >>> from gatecast.nn import LSTM
    >>> stepper = Stepper(LSTM(input_size=2, hidden_size=50, num_layers=2, seed=0))
    >>> state = stepper.initial_state()
    >>> h, state = stepper.step(np.array([0.1, -0.2]), state)
    >>> h.shape
    (50,)
    """

    def __init__(
        self, stack: RecurrentStack, head: Linear | None = None, backend: Backend = "numpy"
    ) -> None:
        if backend not in ("numpy", "numba"):
            raise ConfigError(f"backend {backend!r} is unknown; choose 'numpy' or 'numba'")
        self.backend = backend
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
        # step_many: each layer's fused matrix transposed and stacked as (inputs + hidden + 1,
        # rows), so that one (batch, [inp, h, 1]) @ (., rows) product gives the layer's gates,
        # bias included
        I = self.input_size
        self._batch_weights: list[Array] = []
        for k, W in enumerate(self.W):
            n_in = I if k == 0 else H
            if k == 0:  # columns [W_x | W_h | b]
                W_x, W_h, b = W[:, :n_in], W[:, n_in : n_in + H], W[:, n_in + H]
            else:  # columns [W_x | b | W_h]
                W_x, b, W_h = W[:, :n_in], W[:, n_in], W[:, n_in + 1 :]
            # Times -2, so each gate is one exp away from its value: sigmoid(a) = 1 / (1 + e^{-a})
            # (the fused sigmoid rows hold a/2) and tanh(a) = 2 / (1 + e^{-2a}) - 1. Where
            # NumPy's float64 tanh is not vectorised (CPUs without AVX-512) its exp is ~2x
            # cheaper; scaling by -2 is exact, so only the activations' rounding differs.
            self._batch_weights.append(
                np.ascontiguousarray(-2.0 * np.concatenate([W_x.T, W_h.T, b[None]]))
            )
        # step_many runs the batch in blocks of this many rows, so that each block's gates stay
        # in the core's L2 cache between the product and the activations (~512 KiB of gates)
        self.block = max(16, (512 * 1024) // (self._rows * np.dtype(self.dtype).itemsize))
        self._scratch: dict[int, tuple[Array, ...]] = {}
        self._kernel: Callable[..., float] | None = None
        self._gates: Callable[..., None] | None = None  # step_many's activations, compiled
        if backend == "numba":
            from gatecast.nn.compiled import step_kernel  # numba only when chosen

            self._kernel = step_kernel(self.cell)
            from gatecast.nn.compiled_many import gates_kernel

            self._gates = gates_kernel(self.cell)
            from gatecast.nn.compiled import pack_weights

            # the kernel reads each layer's fused matrix transposed, (cols, rows): its inner
            # loop runs over rows, which vectorises without reordering any sum
            WT = [np.ascontiguousarray(W.T) for W in self.W]
            self._wmem = pack_weights(WT, self.head_w, self.input_size)

    def initial_state(self, h0: Any = None, c0: Any = None) -> StreamState:
        """A zero state, or one from h0 (and c0 for the LSTM) of shape (layers, hidden)."""
        I, H, L = self.input_size, self.hidden_size, self.num_layers
        mem = np.zeros(I + L * (H + 1) + L * self._rows, self.dtype)  # [buf | work]
        state = StreamState(self.cell, I, H, L, mem, self._rows, self.W)
        state.buf[I + H :: H + 1] = 1.0  # the constant that multiplies each layer's bias column
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
        if self._kernel is not None:
            state._x[...] = x_t  # as the NumPy path takes it: a scalar fills every input
            y = self._kernel(self._wmem, state.mem)
            state.steps += 1
            return (state._h[-1], state) if self.head_w is None else (y, state)
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

    def step_many(self, X: Any, h: Array, c: Array | None = None) -> Array:
        """Advance B independent streams one tick at once.

        Parameters
        ----------
        X : array_like, shape (B, input_size)
            Each stream's features for this tick.
        h : ndarray, shape (B, layers, hidden)
            Each stream's h per layer; updated in place.
        c : ndarray, shape (B, layers, hidden), optional
            Each stream's LSTM cell state (LSTM only, required there); updated in place.

        Returns
        -------
        ndarray
            With a head, its first output per stream, shape (B,); otherwise the top layer's new
            h, shape (B, hidden) (a copy).

        Examples
        --------
        >>> from gatecast.nn import LSTM
        >>> stepper = Stepper(LSTM(input_size=2, hidden_size=4, num_layers=2, seed=0))
        >>> h, c = np.zeros((3, 2, 4)), np.zeros((3, 2, 4))
        >>> stepper.step_many(np.ones((3, 2)), h, c).shape
        (3, 4)
        """
        L, H = self.num_layers, self.hidden_size
        X = np.asarray(X, self.dtype)
        B = X.shape[0] if X.ndim == 2 else -1
        if X.ndim != 2 or X.shape[1] != self.input_size or h.shape != (B, L, H):
            raise ConfigError(
                f"step_many takes X of shape (B, {self.input_size}) and h of shape (B, {L}, "
                f"{H}); got X {X.shape} and h {h.shape}"
            )
        lstm = self.cell == "lstm"
        if lstm and (c is None or c.shape != h.shape):
            raise ConfigError(f"an LSTM's step_many needs c of the shape of h, {h.shape}")
        n_out = 1 if self.head_w is not None else H
        out = np.empty((B, n_out), self.dtype)
        T = self.block
        with np.errstate(over="ignore"):  # exp(large) = inf gives the right limit below
            for s in range(0, B, T):
                e = min(B, s + T)
                self._block(X[s:e], h[s:e], None if c is None else c[s:e], out[s:e])
        return out[:, 0] if self.head_w is not None else out

    def _buffers(self, t: int) -> tuple[Array, ...]:
        """Scratch for a block of t rows: per layer its [inp, h, 1] rows, and the gates."""
        if t not in self._scratch:
            if len(self._scratch) > 4:  # a few block sizes in use at a time (the last is short)
                self._scratch.clear()
            I, H = self.input_size, self.hidden_size
            xh = []
            for k in range(self.num_layers):
                a = np.empty((t, (I if k == 0 else H) + H + 1), self.dtype)
                a[:, -1] = 1.0
                xh.append(a)
            z = np.empty((t, self._batch_weights[0].shape[1]), self.dtype)
            self._scratch[t] = (*xh, z, np.empty((t, H), self.dtype))
        return self._scratch[t]

    def _block(self, X: Array, h: Array, c: Array | None, out: Array) -> None:
        """`step_many` on one block of rows, every intermediate in preallocated scratch."""
        H, L = self.hidden_size, self.num_layers
        *xhs, z, tmp = self._buffers(len(X))
        exp, multiply, reciprocal, matmul = np.exp, np.multiply, np.reciprocal, np.matmul
        inp = X
        for k in range(L):
            xh, W = xhs[k], self._batch_weights[k]
            n_in = xh.shape[1] - H - 1
            hk = h[:, k]  # (t, H), a view: written in place
            xh[:, :n_in] = inp
            xh[:, n_in:-1] = hk
            matmul(xh, W, out=z)  # every gate's pre-activation times -2 (see __init__)
            if self._gates is not None:  # the activations in one compiled pass
                self._gates(z, h if c is None else c, h, k)
            elif self.cell == "lstm":
                assert c is not None
                exp(z, out=z)
                z += 1.0
                reciprocal(z, out=z)  # 1 / (1 + e^{-2g}), then f, i, o
                g = z[:, :H]
                g *= 2.0
                g -= 1.0  # tanh(g) = 2 / (1 + e^{-2g}) - 1
                f, i, o = z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
                ck = c[:, k]
                ck *= f  # f * c_prev
                multiply(i, g, out=tmp)
                ck += tmp
                multiply(ck, -2.0, out=tmp)  # h = o * tanh(c)
                exp(tmp, out=tmp)
                tmp += 1.0
                reciprocal(tmp, out=tmp)
                tmp *= 2.0
                tmp -= 1.0
                multiply(o, tmp, out=hk)
            elif self.cell == "gru":
                sig = z[:, : 2 * H]  # r, u = sigmoid(...)
                exp(sig, out=sig)
                sig += 1.0
                reciprocal(sig, out=sig)
                r, u, m = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H]
                multiply(r, z[:, 3 * H :], out=tmp)  # the reset gate scales W_hn h + b_hn
                m += tmp
                exp(m, out=m)
                m += 1.0
                reciprocal(m, out=m)
                m *= 2.0
                m -= 1.0  # n = tanh(W_in x + b_in + r (W_hn h + b_hn))
                hk -= m  # h = n + u (h - n)
                hk *= u
                hk += m
            else:
                exp(z, out=z)
                z += 1.0
                reciprocal(z, out=z)
                z *= 2.0
                z -= 1.0
                hk[...] = z
            inp = hk
        if self.head_w is None:
            out[...] = inp
        else:
            matmul(inp, self.head_w[:-1, None], out=out)
            out += self.head_w[-1]


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

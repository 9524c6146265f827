"""One tick of a fused stack as a single numba kernel (the optional ``gatecast[fast]`` extra).

The kernels read and write the same `gatecast.nn.stream.StreamState` layout as the NumPy path of
`Stepper.step`: ``buf = [x, h_1, 1, ..., h_L, 1]`` and one work row per layer. Each layer's fused
matrix comes transposed, (cols, rows), so the product's inner loop runs over output rows: it
vectorises with every sum still taken in column order (no fast-math reordering), and the results
match the NumPy reference to rounding. The gates go through exp (see `sig2`). A tick costs one
call instead of ~17 NumPy calls.

numba is imported here only (importing this module without it is a `ConfigError` saying how to
install it); `Stepper` imports this module only for ``backend="numba"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gatecast.errors import ConfigError

try:
    import numba
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        "backend='numba' needs numba, which is not installed: pip install 'gatecast[fast]' "
        "(or use backend='numpy')"
    ) from exc

# module-level kernels, so that numba's on-disk cache finds them in the next process
_jit: Callable[[Callable[..., Any]], Callable[..., Any]] = numba.njit(
    cache=True, nogil=True, error_model="numpy"
)


@_jit
def sig2(v: float) -> float:
    # sigmoid(2 v) = 1 / (1 + e^{-2v}): the fused sigmoid rows hold a / 2, and
    # tanh(a) = 2 sigmoid(2a) - 1. One libm exp is ~3x cheaper than one tanh; e^{-2v} = inf
    # gives the limit 0. Rounding differs from NumPy's tanh by ~1e-16.
    return 1.0 / (1.0 + math.exp(-2.0 * v))


@_jit
def product(WT: Any, buf: Any, start: int, z: Any) -> None:
    # z = W @ buf[start : start + cols], summed over the columns in order
    z[:] = 0.0
    for j in range(WT.shape[0]):
        v = buf[start + j]
        row = WT[j]
        for r in range(z.shape[0]):
            z[r] += row[r] * v


@_jit
def head(w: Any, buf: Any, top: int) -> float:
    y = 0.0
    for j in range(w.shape[0]):  # [w | b] . [h_L, 1]
        y += w[j] * buf[top + j]
    return y


@_jit
def lstm(Ws: Any, x: Any, buf: Any, work: Any, w_head: Any) -> float:
    n_in = x.shape[0]
    buf[:n_in] = x
    H = work.shape[1] // 5
    at = n_in  # where this layer's h starts in buf
    for k in range(len(Ws)):
        start = 0 if k == 0 else at - H - 1
        z = work[k, H:]  # [g, f/2, i/2, o/2]
        product(Ws[k], buf, start, z)
        for r in range(H):
            z[r] = 2.0 * sig2(z[r]) - 1.0  # g = tanh(...)
        for r in range(H, 4 * H):
            z[r] = sig2(z[r])  # f, i, o = sigmoid(...)
        for j in range(H):
            c = work[k, j] * z[H + j] + z[2 * H + j] * z[j]  # f c + i g
            work[k, j] = c
            buf[at + j] = z[3 * H + j] * (2.0 * sig2(c) - 1.0)  # h = o tanh(c)
        at += H + 1
    return head(w_head, buf, at - H - 1) if w_head.shape[0] else np.nan


@_jit
def gru(Ws: Any, x: Any, buf: Any, work: Any, w_head: Any) -> float:
    n_in = x.shape[0]
    buf[:n_in] = x
    H = work.shape[1] // 4
    at = n_in
    for k in range(len(Ws)):
        start = 0 if k == 0 else at - H - 1
        z = work[k]  # [r/2, u/2, gi_n, gh_n]
        product(Ws[k], buf, start, z)
        for r in range(2 * H):
            z[r] = sig2(z[r])  # r, u = sigmoid(...)
        for j in range(H):
            n = 2.0 * sig2(z[2 * H + j] + z[j] * z[3 * H + j]) - 1.0  # tanh
            buf[at + j] = (buf[at + j] - n) * z[H + j] + n  # h = n + u (h - n)
        at += H + 1
    return head(w_head, buf, at - H - 1) if w_head.shape[0] else np.nan


@_jit
def rnn(Ws: Any, x: Any, buf: Any, work: Any, w_head: Any) -> float:
    n_in = x.shape[0]
    buf[:n_in] = x
    H = work.shape[1]
    at = n_in
    for k in range(len(Ws)):
        start = 0 if k == 0 else at - H - 1
        z = work[k]
        product(Ws[k], buf, start, z)
        for j in range(H):
            buf[at + j] = 2.0 * sig2(z[j]) - 1.0  # tanh
        at += H + 1
    return head(w_head, buf, at - H - 1) if w_head.shape[0] else np.nan


_KERNELS: dict[str, Callable[..., float]] = {"lstm": lstm, "gru": gru, "rnn": rnn}


def step_kernel(cell: str) -> Callable[..., float]:
    """The compiled step of ``cell``: ``kernel(WT, x, buf, work, head) -> head output`` (NaN
    without a head), ``x`` written into ``buf`` first."""
    return _KERNELS[cell]

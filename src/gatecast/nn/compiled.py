"""One tick of a fused stack as a single numba kernel (the optional ``gatecast[fast]`` extra).

The kernels read and write the same `gatecast.nn.stream.StreamState` layout as the NumPy path of
`Stepper.step`: ``buf = [x, h_1, 1, ..., h_L, 1]`` and one work row per layer (left holding what
the NumPy path leaves there). Each layer's fused matrix comes transposed, (cols, rows), so the
product's inner loop runs over output rows: it vectorises with every sum still taken in column
order, four columns per pass over the rows. For a 2 x 50 LSTM the weights (240 KB in float64) do
not fit in L1, and the product runs at about the L2 cache's bandwidth: it is most of a tick.

The gates do not call libm's ``math.exp``, which numba leaves as one scalar call per element (it
has no SVML with the PyPI llvmlite): `exp_nd` is written out here, branch-free, so that each
layer's activation loop vectorises (4 float64 lanes with AVX2) and costs ~1 ns per gate instead of
~5-10. Each gate takes one division: sigmoid(2v) = D / (D + N) and tanh(v) = (D - N) / (D + N) for
e^{-2v} = N / D. Accuracy (against 40-digit values; tested in tests/nn/test_compiled_kernel.py):
N / D within 3.3e-16 relative for |t| <= 700 (`exp_`, a polynomial without the division, within
2.2e-16); `sig2` within 1.1e-16 and `tanh` within 2.2e-16 absolute over the whole line, as close
as NumPy's own tanh (not relatively close for tiny outputs, which no gate needs). A compiled step stays within 1e-13 of the NumPy reference
in float64 (7e-16 measured over 200 ticks). With float32 buffers the products run in float32 (8
lanes) and the gates in float64, rounded once to float32.

The kernels are compiled with LLVM's ``contract`` flag only: ``a * b + c`` may become one fused
multiply-add (one rounding instead of two); nothing is reordered or approximated beyond that.

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

_FLAGS: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "fastmath": {"contract"},  # fused multiply-adds, nothing reordered
}
# module-level kernels, so that numba's on-disk cache finds them in the next process
_jit: Callable[[Callable[..., Any]], Callable[..., Any]] = numba.njit(**_FLAGS)
# the activations, inlined into each kernel's loops (a call would stop LLVM from vectorising them)
_inline: Callable[[Callable[..., Any]], Callable[..., Any]] = numba.njit(inline="always", **_FLAGS)

# e^t = 2^n e^r with n = round(t / ln 2) and |r| <= ln(2) / 2 (`_reduce`). For the gates, e^r by
# fdlibm's rational form (its e_exp.c): r (e^r + 1) / (e^r - 1) = 2 + q with q = r^2 P(r^2), P of
# degree 4 (error below 2^-59), so e^r = (2 + r + q) / (2 - r + q), whose division merges with
# the gate's (`exp_nd`). Without a division, e^r by its Taylor polynomial to degree 13, whose
# remainder is below |r|^14 / 14! < 4e-18 (`exp_`).
_LOG2E = 1.4426950408889634  # 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (fdlibm's): n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2^52: x + _ROUND - _ROUND rounds x to an integer
_EXP_BIAS = 1023 << 52  # the exponent bits of 2^0
_T_MAX = 700.0  # |t| is clamped here: e^{+-700} is finite and normal, so 2^n needs no care
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
(_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13) = (
    1.0 / math.factorial(k) for k in range(2, 14)
)


@_inline
def _reduce(t: float) -> tuple[float, float]:
    # (r, 2^n) with e^t = 2^n e^r, branch-free (selects only). t beyond +-700 is clamped there
    # (1 / (1 + e^t) is then 0 or 1 to 1e-304), and NaN stays NaN.
    t = _T_MAX if t > _T_MAX else t
    t = -_T_MAX if t < -_T_MAX else t
    big = t * _LOG2E + _ROUND  # n in the low bits of its mantissa
    n = big - _ROUND
    r = (t - n * _LN2_HI) - n * _LN2_LO
    # 2^n from its bits: n (two's complement, in big's low mantissa bits) moved to the exponent
    two_n = np.int64((np.float64(big).view(np.int64) << 52) + _EXP_BIAS).view(np.float64)
    return r, two_n


@_inline
def exp_nd(t: float) -> tuple[float, float]:
    # e^t as a fraction N / D (D in [1.6, 2.4]): the gates take it with one division each
    r, two_n = _reduce(t)
    r2 = r * r
    q = r2 * (_P1 + r2 * (_P2 + r2 * (_P3 + r2 * (_P4 + r2 * _P5))))
    return two_n * (2.0 + (r + q)), 2.0 - (r - q)


@_inline
def exp_(t: float) -> float:
    # e^t within 1 ulp for |t| <= 700 (2.2e-16 relative measured), clamped beyond (see
    # `_reduce`), without a division: for loops that LLVM should vectorise (used by
    # `gatecast.nn.compiled_many`)
    r, two_n = _reduce(t)
    p = _C13 * r + _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    p = p * r + 1.0
    return p * two_n  # type: ignore[no-any-return]


@_inline
def sig2(v: float) -> float:
    # sigmoid(2 v) = 1 / (1 + e^{-2v}) = D / (D + N): the fused sigmoid rows hold a / 2
    N, D = exp_nd(-2.0 * v)
    return D / (D + N)  # type: ignore[no-any-return]


@_inline
def tanh(v: float) -> float:
    # tanh(v) = (1 - e^{-2v}) / (1 + e^{-2v}) = (D - N) / (D + N); like 2 sig2(v) - 1, within
    # ~2e-16 absolutely, not relatively near 0
    N, D = exp_nd(-2.0 * v)
    return (D - N) / (D + N)  # type: ignore[no-any-return]


@_jit
def product(WT: Any, buf: Any, start: int, z: Any) -> None:
    # z = W @ buf[start : start + cols], summed over the columns in order: z = w_0 v_0, then
    # four columns per pass (((z + w_j v_j) + w_{j+1} v_{j+1}) + ...), then the rest one by one
    cols, rows = WT.shape
    v = buf[start]
    for r in range(rows):
        z[r] = WT[0, r] * v  # = 0 + w_0 v_0, without a pass that zeroes z
    j = 1
    while j + 4 <= cols:
        v0, v1, v2, v3 = buf[start + j], buf[start + j + 1], buf[start + j + 2], buf[start + j + 3]
        w0, w1, w2, w3 = WT[j], WT[j + 1], WT[j + 2], WT[j + 3]
        for r in range(rows):
            z[r] = z[r] + w0[r] * v0 + w1[r] * v1 + w2[r] * v2 + w3[r] * v3
        j += 4
    while j < cols:
        v, w = buf[start + j], WT[j]
        for r in range(rows):
            z[r] += w[r] * v
        j += 1


@_jit
def head(w: Any, buf: Any, top: int) -> float:
    y = 0.0
    for j in range(w.shape[0]):  # [w | b] . [h_L, 1]
        y += w[j] * buf[top + j]
    return y


# In the kernels below, each activation loop vectorises: it runs over views from 0, so that LLVM
# sees plain affine addresses (an index such as 4 * H + j would go through numba's wraparound
# select for negative indices), and no element waits for another.


# The kernels take two arrays (each array argument costs a numba call ~0.2 us to unbox): the
# weights, packed by `pack_weights`, and the state, ``mem = [buf | work]`` (`StreamState.mem`),
# whose first ``inputs`` entries the caller has set to this tick's x.
HEADER = 4  # wmem[:4] = layers, inputs, hidden, head length (0 without a head)


def pack_weights(WT: list[np.ndarray], head_w: np.ndarray | None, inputs: int) -> np.ndarray:
    """Each layer's transposed fused matrix and the head, with their sizes, in one array."""
    hidden = WT[0].shape[0] - inputs - 1  # the first layer's columns: [x, h_1, 1]
    n_head = 0 if head_w is None else len(head_w)
    parts = [np.array([len(WT), inputs, hidden, n_head], WT[0].dtype)]
    parts += [W.ravel() for W in WT]
    if head_w is not None:
        parts.append(head_w)
    return np.ascontiguousarray(np.concatenate(parts))


@_jit
def _dims(wmem: Any) -> tuple[int, int, int, int]:
    # layers, inputs, hidden (the header of `pack_weights`) and the length of buf in the state
    L, n_in, H = int(wmem[0]), int(wmem[1]), int(wmem[2])
    return L, n_in, H, n_in + L * (H + 1)


@_jit
def _layer(wmem: Any, k: int, off: int, rows: int) -> tuple[Any, int]:
    # layer k's transposed fused matrix, a view of wmem from off, and the offset after it
    n_in, H = int(wmem[1]), int(wmem[2])
    cols = n_in + H + 1 if k == 0 else 2 * H + 1
    end = off + cols * rows
    return wmem[off:end].reshape((cols, rows)), end


@_inline
def _gates_in(
    wmem: Any, mem: Any, nb: int, k: int, off: int, at: int, rows: int, cells: int
) -> tuple[Any, int]:
    # layer k's work row, [its `cells` cell-state entries | its `rows` pre-activations], the
    # latter set to its fused matrix times its input [x or h_{k-1}, h_k, 1] (h_k at buf[at:]);
    # and the offset in wmem after that matrix
    H, width = int(wmem[2]), cells + rows
    WT, end = _layer(wmem, k, off, rows)
    work = mem[nb + k * width : nb + (k + 1) * width]
    product(WT, mem[:nb], 0 if k == 0 else at - H - 1, work[cells:])
    return work, end


@_jit
def _out(wmem: Any, off: int, buf: Any, top: int) -> float:
    n_head = int(wmem[3])
    return head(wmem[off : off + n_head], buf, top) if n_head else np.nan


@_jit
def lstm(wmem: Any, mem: Any) -> float:
    L, n_in, H, nb = _dims(wmem)
    buf = mem[:nb]
    at, off = n_in, HEADER  # where this layer's h starts in buf; its weights in wmem
    for k in range(L):
        w, off = _gates_in(wmem, mem, nb, k, off, at, 4 * H, H)  # [c, g, f/2, i/2, o/2]
        c, gfio, g, h = w[:H], w[H:], w[H : 2 * H], buf[at : at + H]
        f, i, o = w[2 * H : 3 * H], w[3 * H : 4 * H], w[4 * H :]
        for j in range(4 * H):  # one pass over all 4H gates
            gfio[j] = sig2(gfio[j])  # f, i, o = sigmoid(...); g = 2 sig2 - 1 below
        for j in range(H):
            gj = 2.0 * g[j] - 1.0  # tanh
            g[j] = gj
            cj = c[j] * f[j] + i[j] * gj  # f c + i g
            c[j] = cj
            h[j] = o[j] * tanh(cj)  # h = o tanh(c)
        at += H + 1
    return _out(wmem, off, buf, at - H - 1)  # type: ignore[no-any-return]


@_jit
def gru(wmem: Any, mem: Any) -> float:
    L, n_in, H, nb = _dims(wmem)
    buf = mem[:nb]
    at, off = n_in, HEADER
    for k in range(L):
        z, off = _gates_in(wmem, mem, nb, k, off, at, 4 * H, 0)  # [r/2, u/2, gi_n, gh_n]
        ru, r, u, n, ghn = z[: 2 * H], z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
        h = buf[at : at + H]
        for j in range(2 * H):
            ru[j] = sig2(ru[j])  # r, u = sigmoid(...)
        for j in range(H):
            nj = tanh(n[j] + r[j] * ghn[j])  # the reset gate scales W_hn h + b_hn
            n[j] = nj
            h[j] = (h[j] - nj) * u[j] + nj  # h = n + u (h - n)
        at += H + 1
    return _out(wmem, off, buf, at - H - 1)  # type: ignore[no-any-return]


@_jit
def rnn(wmem: Any, mem: Any) -> float:
    L, n_in, H, nb = _dims(wmem)
    buf = mem[:nb]
    at, off = n_in, HEADER
    for k in range(L):
        z, off = _gates_in(wmem, mem, nb, k, off, at, H, 0)
        h = buf[at : at + H]
        for j in range(H):
            h[j] = tanh(z[j])
        at += H + 1
    return _out(wmem, off, buf, at - H - 1)  # type: ignore[no-any-return]


_KERNELS: dict[str, Callable[..., float]] = {"lstm": lstm, "gru": gru, "rnn": rnn}


def step_kernel(cell: str) -> Callable[..., float]:
    """The compiled step of ``cell``: ``kernel(wmem, mem) -> head output`` (NaN without a
    head), with the weights packed by :func:`pack_weights` and this tick's x already in
    ``mem[:inputs]``."""
    return _KERNELS[cell]

"""The gates of a block of `Stepper.step_many` as one numba kernel (the ``gatecast[fast]`` extra).

`Stepper._block` forms each layer's pre-activations for a block of rows with one BLAS product;
in NumPy the activations then take ~15 ufunc passes over the block, float64 exp among them,
which NumPy does not vectorise on CPUs without AVX-512 (~7 ns an element here). These kernels
do all of a layer's activations and its state update in one pass, with the branch-free exp of
`gatecast.nn.compiled` (vectorised by LLVM, within 2 ulp), so each row's numbers are those of
the NumPy path to rounding.

The pre-activations come times -2 (see `Stepper.__init__`): a sigmoid gate is 1 / (1 + e^z)
and a tanh gate 2 / (1 + e^z) - 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import types
from numba.extending import overload

from gatecast.nn.compiled import _inline, _jit, exp_nd

# float32 blocks stay in float32 (8 lanes with AVX2), so their constants are float32 too
_F = np.float32
_ONE32, _TWO32, _M2_32 = _F(1.0), _F(2.0), _F(-2.0)
_LOG2E32, _ROUND32 = _F(1.4426950408889634), _F(12582912.0)  # 1 / ln 2; 1.5 * 2^23
_LN2_HI32, _LN2_LO32 = _F(0.693359375), _F(-2.12194440e-4)  # n * _LN2_HI32 is exact
_T_MAX32 = _F(87.0)  # e^{+-87} is finite and normal in float32
_P32 = tuple(_F(1.0 / f) for f in (5040, 720, 120, 24, 6, 2))  # 1/7! ... 1/2!
_EXP_BIAS32 = np.int32(127 << 23)


@_inline
def exp32_(t: Any) -> Any:
    # e^t in float32, branch-free, within 2 ulp for |t| <= 87 (clamped beyond, NaN kept)
    t = _T_MAX32 if t > _T_MAX32 else t
    t = -_T_MAX32 if t < -_T_MAX32 else t
    big = t * _LOG2E32 + _ROUND32  # n in the low bits of its mantissa
    n = big - _ROUND32
    r = (t - n * _LN2_HI32) - n * _LN2_LO32
    p = _P32[0] * r + _P32[1]
    p = p * r + _P32[2]
    p = p * r + _P32[3]
    p = p * r + _P32[4]
    p = p * r + _P32[5]
    p = p * r + _ONE32
    p = p * r + _ONE32
    two_n = np.int32((np.float32(big).view(np.int32) << 23) + _EXP_BIAS32).view(np.float32)
    return p * two_n


def sigmoid_(t: float) -> float:
    """1 / (1 + e^t) (a sigmoid gate from its pre-activation times -1), in t's precision."""
    raise NotImplementedError  # compiled only: see the overload below


def tanh_(t: float) -> float:
    """2 / (1 + e^t) - 1 (a tanh from its argument times -2), in t's precision."""
    raise NotImplementedError


def tanh_of(x: float) -> float:
    """tanh(x), in x's precision."""
    raise NotImplementedError


@overload(sigmoid_, jit_options={"fastmath": {"contract"}, "error_model": "numpy"})
def _sigmoid(t: Any) -> Any:
    def f32(t: Any) -> Any:
        return _ONE32 / (_ONE32 + exp32_(t))

    def f64(t: Any) -> Any:
        N, D = exp_nd(t)  # e^t = N / D
        return D / (D + N)

    return f32 if t == types.float32 else f64


@overload(tanh_, jit_options={"fastmath": {"contract"}, "error_model": "numpy"})
def _tanh(t: Any) -> Any:
    def f32(t: Any) -> Any:
        return _TWO32 / (_ONE32 + exp32_(t)) - _ONE32

    def f64(t: Any) -> Any:
        N, D = exp_nd(t)
        return (D - N) / (D + N)

    return f32 if t == types.float32 else f64


@overload(tanh_of, jit_options={"fastmath": {"contract"}, "error_model": "numpy"})
def _tanh_of(x: Any) -> Any:
    def f32(x: Any) -> Any:
        return _TWO32 / (_ONE32 + exp32_(_M2_32 * x)) - _ONE32

    def f64(x: Any) -> Any:
        N, D = exp_nd(-2.0 * x)
        return (D - N) / (D + N)

    return f32 if x == types.float32 else f64


# Each loop runs over views that start at 0 (an index such as 3 * H + j would go through
# numba's wraparound for negative indices, which stops LLVM from vectorising the loop).


@_jit
def lstm_gates(z: Any, c: Any, h: Any, k: int) -> None:
    # z (t, 4H): [g, f, i, o] times -2; c and h (t, layers, H): layer k updated in place
    H = c.shape[2]
    for b in range(z.shape[0]):
        zb, cb, hb = z[b], c[b, k], h[b, k]
        g, f, i, o = zb[:H], zb[H : 2 * H], zb[2 * H : 3 * H], zb[3 * H :]
        for j in range(H):
            cn = cb[j] * sigmoid_(f[j]) + sigmoid_(i[j]) * tanh_(g[j])
            cb[j] = cn
            hb[j] = sigmoid_(o[j]) * tanh_of(cn)


@_jit
def gru_gates(z: Any, c: Any, h: Any, k: int) -> None:
    # z (t, 4H): [r/2, u/2, gi_n, gh_n] times -2; h (t, layers, H) updated in place; c unused
    H = h.shape[2]
    for b in range(z.shape[0]):
        zb, hb = z[b], h[b, k]
        r, u, gi, gh = zb[:H], zb[H : 2 * H], zb[2 * H : 3 * H], zb[3 * H :]
        for j in range(H):
            n = tanh_(gi[j] + sigmoid_(r[j]) * gh[j])
            hb[j] = (hb[j] - n) * sigmoid_(u[j]) + n  # h = n + u (h - n)


@_jit
def rnn_gates(z: Any, c: Any, h: Any, k: int) -> None:
    # z (t, H): the pre-activation times -2; h = tanh, in place; c unused
    H = h.shape[2]
    for b in range(z.shape[0]):
        zb, hb = z[b], h[b, k]
        for j in range(H):
            hb[j] = tanh_(zb[j])


_KERNELS: dict[str, Callable[..., None]] = {"lstm": lstm_gates, "gru": gru_gates, "rnn": rnn_gates}


def gates_kernel(cell: str) -> Callable[..., None]:
    """The compiled activations of ``cell`` for a block: ``kernel(z, c, h, k)``, updating layer
    ``k`` of the states ``c`` (LSTM only; pass ``h`` otherwise) and ``h``, each (rows, layers,
    hidden), in place."""
    return _KERNELS[cell]

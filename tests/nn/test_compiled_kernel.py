"""The numba kernels of `gatecast.nn.compiled`: their branch-free exp, sigmoid and tanh against the
closed forms (over the whole range, extremes included), and each cell's compiled step against the
NumPy reference of `Stepper.step` over 200 ticks.

The activations are tested as the kernels run them: inlined into a loop that LLVM vectorises (a
test below checks that it does).
"""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest

from gatecast.nn import Linear, Stepper, make_stack
from gatecast.nn.compiled import exp_, exp_nd, product, sig2, tanh

_LOOP = numba.njit(cache=False, error_model="numpy", fastmath={"contract"})


@_LOOP
def _exp_all(t, out):
    for j in range(t.shape[0]):
        out[j] = exp_(t[j])


@_LOOP
def _exp_nd_all(t, out):
    for j in range(t.shape[0]):
        N, D = exp_nd(t[j])
        out[j] = N / D


@_LOOP
def _sig2_all(v, out):
    for j in range(v.shape[0]):
        out[j] = sig2(v[j])


@_LOOP
def _tanh_all(v, out):
    for j in range(v.shape[0]):
        out[j] = tanh(v[j])


def _apply(loop, x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, -123.0)
    loop(x, out)
    return out


def _grid() -> np.ndarray:
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0]
    special += [18.0, -18.0, 19.1, -19.1, 40.0, -40.0, 354.0, -354.0, 360.0, -360.0, 1e3, -1e3]
    special += [1e300, -1e300, np.inf, -np.inf]
    return np.concatenate(
        [
            special,
            rng.uniform(-1, 1, 4001),  # odd lengths: the vector loop's scalar tail runs too
            rng.uniform(-25, 25, 4001),
            rng.normal(scale=3, size=2001),
        ]
    )


def test_exp_is_within_a_few_ulp_up_to_the_clamp() -> None:
    rng = np.random.default_rng(1)
    t = np.concatenate(
        [rng.uniform(-700, 700, 6001), rng.uniform(-2, 2, 6001), [0.0, 700.0, -700.0, 1.0]]
    )
    got = _apply(_exp_all, t)
    ref = np.array([math.exp(v) for v in t])  # libm: within 1 ulp
    rel = np.abs(got / ref - 1.0)
    assert rel.max() <= 6e-16  # exp_ 2.2e-16 measured against 40 digits, libm within 1 ulp
    assert got[-4] == 1.0 and got[-1] == pytest.approx(math.e, rel=4e-16)
    # the gates' form, e^t = N / D: 3.3e-16 measured
    assert np.abs(_apply(_exp_nd_all, t) / ref - 1.0).max() <= 8e-16
    # beyond +-700 the argument is clamped (the gates saturate long before); NaN stays NaN
    far = _apply(_exp_all, np.array([701.0, 1e3, np.inf, -701.0, -np.inf, np.nan]))
    assert far[0] == far[1] == far[2] == got[-3] and far[3] == far[4] == got[-2]
    assert np.isfinite(far[:5]).all() and far[3] > 0.0 and np.isnan(far[5])


def test_sigmoid_and_tanh_match_the_closed_forms_absolutely() -> None:
    v = _grid()
    s, th = _apply(_sig2_all, v), _apply(_tanh_all, v)
    with np.errstate(over="ignore"):
        s_ref = 1.0 / (1.0 + np.exp(-2.0 * v))  # sigmoid(2 v), each within ~1e-16 itself
    th_ref = np.tanh(v)
    # the bound of the module docstring: 2.2e-16 measured against 40-digit values, so 4.5e-16
    # against these float64 closed forms
    np.testing.assert_allclose(s, s_ref, rtol=0, atol=4.5e-16)
    np.testing.assert_allclose(th, th_ref, rtol=0, atol=4.5e-16)
    assert ((s >= 0.0) & (s <= 1.0)).all() and ((th >= -1.0) & (th <= 1.0)).all()
    # saturation gives the exact limits (up to a value below 1e-300), never NaN
    ends = _apply(_sig2_all, np.array([np.inf, 1e3, -1e3, -np.inf, 0.0]))
    assert ends[0] == ends[1] == 1.0 and 0.0 <= ends[2] < 1e-300 and ends[3] == ends[2]
    assert ends[4] == 0.5
    assert list(_apply(_tanh_all, np.array([np.inf, 1e3, 20.0, -20.0, -1e3, -np.inf]))) == [
        1.0,
        1.0,
        1.0,
        -1.0,
        -1.0,
        -1.0,
    ]
    assert np.isnan(_apply(_sig2_all, np.array([np.nan]))).all()
    assert np.isnan(_apply(_tanh_all, np.array([np.nan]))).all()
    # odd symmetry to rounding: tanh(-v) = -tanh(v) and sigmoid(-a) = 1 - sigmoid(a)
    np.testing.assert_allclose(_apply(_tanh_all, -v), -th, rtol=0, atol=4.5e-16)
    np.testing.assert_allclose(_apply(_sig2_all, -v), 1.0 - s, rtol=0, atol=4.5e-16)


def test_the_activation_loop_is_vectorised_and_calls_no_libm() -> None:
    # what the kernels' speed rests on: no call and no branch in the loop body, so LLVM emits
    # vector divisions (one per gate); libm's exp would stay one scalar call per element
    _sig2_all(np.zeros(8), np.zeros(8))
    ir = _sig2_all.inspect_llvm(_sig2_all.signatures[0])
    assert re.search(r"fdiv [^\n]*<\d+ x double>", ir)
    assert not re.search(r"call [^\n]*@(llvm\.)?exp", ir)


@pytest.mark.parametrize("cols", [1, 2, 4, 5, 8, 9, 52, 101])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_product_sums_every_column(cols: int, dtype) -> None:
    rng = np.random.default_rng(cols)
    WT = rng.normal(size=(cols, 13)).astype(dtype)  # 13 rows: a vector tail too
    buf = rng.normal(size=cols + 5).astype(dtype)
    z = np.full(13, np.nan, dtype)  # whatever z held is overwritten, not added to
    product(WT, buf, 3, z)
    ref = WT.astype(np.float64).T @ buf[3 : 3 + cols].astype(np.float64)
    tol = 1e-14 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(z, ref, rtol=0, atol=tol * max(1.0, np.abs(ref).max()))


#: How far a compiled step may drift from the NumPy reference over 200 ticks, absolutely (states,
#: gates and head output). float64: measured at most 7e-16 (the module docstring's bound is 1e-13);
#: float32: measured 2.7e-7, about 4 float32 ulps of 1 (both paths round each step to float32).
TOL = {np.float64: 1e-14, np.float32: 2e-6}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("inputs", "hidden", "layers"), [(1, 50, 2), (3, 7, 3)])
def test_compiled_steps_follow_the_numpy_reference_for_200_ticks(
    cell: str, dtype, inputs: int, hidden: int, layers: int
) -> None:
    rng = np.random.default_rng(hidden + layers)
    stack = make_stack(cell, inputs, hidden, layers, seed=3, dtype=dtype)
    head = Linear(hidden, 1, seed=4, dtype=dtype)
    ref, fast = Stepper(stack, head), Stepper(stack, head, backend="numba")
    h0 = rng.normal(size=(layers, hidden))
    c0 = rng.normal(scale=2.0, size=(layers, hidden)) if cell == "lstm" else None
    a, b = ref.initial_state(h0, c0), fast.initial_state(h0, c0)
    tol = TOL[dtype]
    worst = 0.0
    X = rng.normal(scale=1.5, size=(200, inputs))
    X[100:105] *= 1e3  # saturated gates for a few ticks: exp's argument is clamped
    for x in X.astype(dtype):
        ya, _ = ref.step(x, a)
        yb, _ = fast.step(x, b)
        assert isinstance(yb, float)
        worst = max(worst, abs(ya - yb), float(np.abs(b.h - a.h).max()))
        if cell == "lstm":
            worst = max(worst, float(np.abs(b.c - a.c).max()))
    assert worst <= tol
    assert b.steps == a.steps == 200
    assert np.abs(a.h).max() > 0.1 and np.isfinite(b.h).all()  # not a comparison of zeros
    # the work rows hold what the NumPy path leaves there (the gates after activation)
    np.testing.assert_allclose(b.work, a.work, rtol=0, atol=tol * max(1.0, np.abs(a.work).max()))

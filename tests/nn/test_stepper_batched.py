"""`Stepper.step_many` (B streams per call) and the numba backend of `Stepper.step`, each against
the NumPy single-tick path, which is itself tested against the batch forward pass."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from gatecast.errors import ConfigError
from gatecast.nn import Linear, Stepper, make_stack

CELLS = ["lstm", "gru", "rnn"]


def _pair(cell: str, head: bool, backend: str = "numpy") -> tuple[Stepper, Stepper]:
    stack = make_stack(cell, 3, 6, 2, seed=4)
    lin = Linear(6, 1, seed=5) if head else None
    return Stepper(stack, lin), Stepper(stack, lin, backend=backend)  # type: ignore[arg-type]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("head", [True, False])
@pytest.mark.parametrize("blocks", [False, True])
def test_step_many_equals_one_stream_at_a_time(cell: str, head: bool, blocks: bool) -> None:
    """Each row as if it were stepped alone; with ``blocks``, a batch larger than the block runs
    in blocks, the last one short."""
    rng = np.random.default_rng(0)
    one, _ = _pair(cell, head)
    B = 5
    if blocks:
        one.block, B = 7, 52  # 7 full blocks and one of 3
    h0, c0 = rng.normal(scale=0.5, size=(2, B, 2, 6))
    singles = [one.initial_state(h0[b], c0[b] if cell == "lstm" else None) for b in range(B)]
    h, c = h0.copy(), c0.copy()
    for _ in range(25):
        X = rng.normal(size=(B, 3))
        y = one.step_many(X, h, c if cell == "lstm" else None)
        ref = [one.step(X[b], singles[b])[0] for b in range(B)]
        if head:
            assert y.shape == (B,)
            np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)
        else:  # the top layer's h, a copy the next step leaves alone
            np.testing.assert_allclose(y, np.stack(ref), rtol=0, atol=1e-12)
        np.testing.assert_allclose(h, [s.h for s in singles], rtol=0, atol=1e-12)
        if cell == "lstm":
            np.testing.assert_allclose(c, [s.c for s in singles], rtol=0, atol=1e-12)
    assert np.abs(h).max() > 0.05  # the states moved: the comparison above is not of zeros
    assert len(np.unique(h[:, -1, 0])) == B  # every row its own numbers
    untouched = h.copy()
    one.step_many(np.zeros((0, 3)), h[:0], c[:0] if cell == "lstm" else None)
    np.testing.assert_array_equal(h, untouched)


def test_step_many_checks_shapes() -> None:
    stepper, _ = _pair("lstm", True)
    h = np.zeros((4, 2, 6))
    with pytest.raises(ConfigError, match=r"X of shape \(B, 3\) and h of shape \(B, 2, 6\)"):
        stepper.step_many(np.zeros((4, 2)), h, h.copy())
    with pytest.raises(ConfigError, match=r"X of shape \(B, 3\)"):
        stepper.step_many(np.zeros((5, 3)), h, h.copy())
    with pytest.raises(ConfigError, match="an LSTM's step_many needs c"):
        stepper.step_many(np.zeros((4, 3)), h)


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="backend 'cuda' is unknown"):
        Stepper(make_stack("rnn", 1, 2, 1, seed=0), backend="cuda")  # type: ignore[arg-type]


def test_the_numba_backend_without_numba_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "gatecast.nn.compiled", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'gatecast\[fast\]'"):
        Stepper(make_stack("lstm", 1, 2, 1, seed=0), backend="numba")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_steps_equal_the_numpy_reference(cell: str, dtype) -> None:
    rng = np.random.default_rng(1)
    stack = make_stack(cell, 3, 6, 2, seed=4, dtype=dtype)
    head = Linear(6, 1, seed=5, dtype=dtype)
    ref, fast = Stepper(stack, head), Stepper(stack, head, backend="numba")
    h0 = rng.normal(scale=0.5, size=(2, 6))
    c0 = rng.normal(size=(2, 6)) if cell == "lstm" else None
    a, b = ref.initial_state(h0, c0), fast.initial_state(h0, c0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for _ in range(40):
        x = rng.normal(size=3)
        ya, _ = ref.step(x, a)
        yb, _ = fast.step(x, b)
        assert isinstance(yb, float) and abs(ya - yb) <= tol
        np.testing.assert_allclose(b.h, a.h, rtol=0, atol=tol)
        if cell == "lstm":
            np.testing.assert_allclose(b.c, a.c, rtol=0, atol=tol)
    assert b.steps == 40 and np.abs(a.h).max() > 0.05
    for x in (np.full(3, 1e4), np.full(3, -1e4)):  # saturated gates: exp overflows to inf
        ya, _ = ref.step(x, a)
        yb, _ = fast.step(x, b)
        assert abs(ya - yb) <= tol and np.isfinite(b.h).all()
        np.testing.assert_allclose(b.h, a.h, rtol=0, atol=tol)
    # without a head, step returns the top layer's h, as the NumPy path does
    bare_ref, bare = Stepper(stack), Stepper(stack, backend="numba")
    s, t = bare_ref.initial_state(), bare.initial_state()
    for x in rng.normal(size=(5, 3)):
        np.testing.assert_allclose(bare.step(x, t)[0], bare_ref.step(x, s)[0], rtol=0, atol=tol)


@pytest.mark.parametrize("cell", CELLS)
def test_step_many_saturates_like_the_reference(cell: str) -> None:
    # inputs far out: the gates' exp overflows to inf, which must give 0 or 1, quietly
    one, _ = _pair(cell, True)
    X = np.array([[1e4, -1e4, 1e4], [-1e4, 1e4, -1e4]])
    h, c = np.zeros((2, 2, 6)), np.zeros((2, 2, 6))
    singles = [one.initial_state() for _ in range(2)]
    for _ in range(3):
        y = one.step_many(X, h, c if cell == "lstm" else None)
        ref = [one.step(X[b], singles[b])[0] for b in range(2)]
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, [s.h for s in singles], rtol=0, atol=1e-12)
    assert np.isfinite(h).all() and np.abs(h[:, 0]).max() > 0.5  # saturated, not NaN


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-13), (np.float32, 2e-5)])
def test_numba_step_many_equals_the_numpy_reference(cell: str, dtype: Any, atol: float) -> None:
    """The compiled activations of a block (``backend="numba"``) against NumPy's, float64 to
    rounding and float32 within a few units of its last place, over blocks of 16 rows."""
    rng = np.random.default_rng(3)
    stack = make_stack(cell, 3, 6, 2, seed=4, dtype=dtype)
    head = Linear(6, 1, seed=5, dtype=dtype)
    ref, fast = Stepper(stack, head), Stepper(stack, head, backend="numba")
    ref.block = fast.block = 16
    B = 40
    h = rng.normal(scale=0.5, size=(B, 2, 6)).astype(dtype)
    c = rng.normal(scale=2.0, size=(B, 2, 6)).astype(dtype)
    states = [(h.copy(), c.copy()), (h.copy(), c.copy())]
    for t in range(20):
        X = rng.normal(scale=3.0 if t % 5 else 40.0, size=(B, 3)).astype(dtype)  # some saturate
        a, b = (s.step_many(X, hs, cs if cell == "lstm" else None)
                for s, (hs, cs) in zip((ref, fast), states, strict=True))  # fmt: skip
        np.testing.assert_allclose(b, a, rtol=0, atol=atol)
    for k in range(2):
        np.testing.assert_allclose(states[1][k], states[0][k], rtol=0, atol=atol)
    assert np.abs(states[0][0]).max() > 0.3  # the states moved

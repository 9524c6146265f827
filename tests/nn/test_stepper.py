"""Streaming `Stepper.step` reproduces the batch forward pass tick by tick."""

from __future__ import annotations

import numpy as np
import pytest

from gatecast.errors import ConfigError
from gatecast.nn import Linear, Stepper, make_stack


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_steps_equal_forward(cell: str, dtype) -> None:
    rng = np.random.default_rng(0)
    stack = make_stack(cell, 2, 7, 3, seed=1, dtype=dtype)
    x = rng.normal(size=(1, 15, 2)).astype(dtype)
    h0 = rng.normal(size=(3, 1, 7))
    c0 = rng.normal(size=(3, 1, 7))
    init = (h0, c0) if cell == "lstm" else h0
    out = stack.forward(x, init)
    stepper = Stepper(stack)
    state = stepper.initial_state(h0, c0 if cell == "lstm" else None)
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for t in range(15):
        h, state = stepper.step(x[0, t], state)
        assert h.dtype == dtype
        np.testing.assert_allclose(h, out.output[0, t], **tol)
    final = out.state[0] if cell == "lstm" else out.state
    np.testing.assert_allclose(state.h, final[:, 0], **tol)
    if cell == "lstm":
        np.testing.assert_allclose(state.c, out.state[1][:, 0], **tol)
    assert state.steps == 15


def test_head_output_and_branching() -> None:
    rng = np.random.default_rng(1)
    stack, head = make_stack("lstm", 1, 9, 2, seed=0), Linear(9, 1, seed=2)
    stepper = Stepper(stack, head)
    series = rng.normal(size=12)
    state = stepper.initial_state()
    ys = []
    for v in series[:8]:
        y, state = stepper.step(v, state)  # a float in, a float out
        ys.append(y)
    assert isinstance(ys[-1], float)
    expected = head(stack(series[None, :8, None])[0][0])[:, 0]
    np.testing.assert_allclose(ys, expected, rtol=1e-12, atol=1e-14)
    branch = state.copy()
    for v in series[8:]:
        y_main, state = stepper.step(v, state)
    y_branch, branch = stepper.step(series[8], branch)
    assert branch.steps == 9 and state.steps == 12 and y_branch != y_main


def test_initial_state_checks() -> None:
    stepper = Stepper(make_stack("gru", 1, 4, 2, seed=0))
    with pytest.raises(ConfigError, match="h0 must hold"):
        stepper.initial_state(np.zeros(3))
    with pytest.raises(ConfigError, match="no cell state"):
        stepper.initial_state(c0=np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="only the LSTM"):
        _ = stepper.initial_state().c
    other = Stepper(make_stack("gru", 1, 4, 2, seed=1))
    with pytest.raises(ConfigError, match="made by another Stepper"):
        stepper.step(0.5, other.initial_state())

"""The NumPy stacks agree with torch autograd on outputs, final states and every gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gatecast.nn import make_stack

from .torch_reference import torch_forward_backward

RTOL, ATOL = 1e-9, 1e-12  # float64: both engines do the same arithmetic in a different order
CASES = 60


def _log_uniform(rng: np.random.Generator, hi: int) -> int:
    """1..hi, small values more often (they are fast, and edge cases live there)."""
    return int(min(hi, math.floor(math.exp(rng.uniform(0.0, math.log(hi + 1))))))


def _shapes(seed: int):
    rng = np.random.default_rng(seed)
    fixed = [(1, 1, 1, 1, 1), (5, 64, 3, 50, 8), (2, 7, 2, 1, 3), (1, 1, 3, 17, 1)]
    for case in range(CASES):
        if case < len(fixed):
            yield case, fixed[case]
        else:
            yield (
                case,
                (
                    int(rng.integers(1, 6)),
                    _log_uniform(rng, 64),
                    int(rng.integers(1, 4)),
                    _log_uniform(rng, 50),
                    int(rng.integers(1, 9)),
                ),
            )


def _state(rng, stack, batch, scale=1.0):
    shape = (stack.num_layers, batch, stack.hidden_size)
    parts = tuple(scale * rng.normal(size=shape) for _ in range(1 + stack.has_cell_state))
    return parts if stack.has_cell_state else parts[0]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_random_shapes_match_torch_autograd(cell: str) -> None:
    for case, (n_in, hidden, layers, time, batch) in _shapes(
        seed={"rnn": 1, "lstm": 2, "gru": 3}[cell]
    ):
        rng = np.random.default_rng(case)
        stack = make_stack(cell, n_in, hidden, layers, seed=case)
        x = rng.normal(size=(batch, time, n_in))
        state = (
            _state(rng, stack, batch) if case % 3 else None
        )  # a third of the cases start from zeros
        lengths = rng.integers(1, time + 1, size=batch) if case % 2 else None
        d_output = rng.normal(size=(batch, time, hidden))
        d_state = _state(rng, stack, batch)

        out = stack.forward(x, state, lengths=lengths)
        grads = stack.backward(out.cache, d_output, d_state)
        ref = torch_forward_backward(
            stack,
            x,
            state if state is not None else stack.zero_state(batch),
            d_output,
            d_state,
            lengths,
        )

        where = (
            f"{cell} case {case}: input={n_in} hidden={hidden} layers={layers} time={time} "
            f"batch={batch}"
        )
        check = {"output": (out.output, ref["output"]), "dx": (grads.x, ref["x"])}
        states = out.state if isinstance(out.state, tuple) else (out.state,)
        d_init = grads.state if isinstance(grads.state, tuple) else (grads.state,)
        for k, (mine, theirs) in enumerate(zip(states, ref["state"], strict=True)):
            check[f"final state {k}"] = (mine, theirs)
        for k, (mine, theirs) in enumerate(zip(d_init, ref["d_state"], strict=True)):
            check[f"d initial state {k}"] = (mine, theirs)
        for name, g in grads.params.items():
            check[f"d {name}"] = (g, ref["params"][name])
        for what, (mine, theirs) in check.items():
            assert mine.shape == theirs.shape, f"{where}: {what} shape"
            np.testing.assert_allclose(
                mine, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{where}: {what}"
            )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_matches_torch_float32(cell: str) -> None:
    rng = np.random.default_rng(0)
    stack = make_stack(cell, 3, 16, 2, seed=0, dtype=np.float32)
    x = rng.normal(size=(4, 12, 3)).astype(np.float32)
    d_output = rng.normal(size=(4, 12, 16)).astype(np.float32)
    d_state = _state(rng, stack, 4)
    d_state = (
        tuple(d.astype(np.float32) for d in d_state)
        if isinstance(d_state, tuple)
        else d_state.astype(np.float32)
    )
    out = stack.forward(x)
    grads = stack.backward(out.cache, d_output, d_state)
    zero = stack.zero_state(4)
    ref = torch_forward_backward(stack, x, zero, d_output, d_state)
    assert out.output.dtype == np.float32 and grads.x.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.params.values())
    np.testing.assert_allclose(out.output, ref["output"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads.x, ref["x"], rtol=1e-4, atol=1e-5)
    for name, g in grads.params.items():
        np.testing.assert_allclose(g, ref["params"][name], rtol=1e-4, atol=1e-5, err_msg=name)

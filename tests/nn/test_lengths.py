"""A padded batch with `lengths` gives exactly what running each sequence alone gives."""

from __future__ import annotations

import numpy as np
import pytest

from gatecast.nn import make_stack


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padded_batch_equals_each_sequence_alone(cell: str) -> None:
    rng = np.random.default_rng(0)
    stack = make_stack(cell, 3, 5, 2, seed=1)
    lengths = np.array([6, 2, 4, 1])
    B, T, H = len(lengths), 6, 5
    x = rng.normal(size=(B, T, 3))
    x[np.arange(T)[None, :] >= lengths[:, None]] = 99.0  # padding must not matter
    shape = (2, B, H)
    state = (
        (rng.normal(size=shape), rng.normal(size=shape))
        if cell == "lstm"
        else rng.normal(size=shape)
    )
    d_out = rng.normal(size=(B, T, H))
    d_state = (
        (rng.normal(size=shape), rng.normal(size=shape))
        if cell == "lstm"
        else rng.normal(size=shape)
    )

    out = stack.forward(x, state, lengths=lengths)
    grads = stack.backward(out.cache, d_out, d_state)

    def part(s, b):
        return tuple(a[:, b : b + 1] for a in s) if isinstance(s, tuple) else s[:, b : b + 1]

    def parts(s):
        return s if isinstance(s, tuple) else (s,)

    param_sum = {k: np.zeros_like(v) for k, v in stack.params.items()}
    for b, n in enumerate(lengths):
        alone = stack.forward(x[b : b + 1, :n], part(state, b))
        g = stack.backward(alone.cache, d_out[b : b + 1, :n], part(d_state, b))
        np.testing.assert_allclose(out.output[b, :n], alone.output[0], rtol=1e-12, atol=1e-14)
        assert np.all(out.output[b, n:] == 0.0), "outputs past the length are zero"
        for mine, ref in zip(parts(out.state), parts(alone.state), strict=True):
            np.testing.assert_allclose(mine[:, b], ref[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grads.x[b, :n], g.x[0], rtol=1e-12, atol=1e-14)
        assert np.all(grads.x[b, n:] == 0.0), "padding gets no gradient"
        for mine, ref in zip(parts(grads.state), parts(g.state), strict=True):
            np.testing.assert_allclose(mine[:, b], ref[:, 0], rtol=1e-12, atol=1e-14)
        for k in param_sum:
            param_sum[k] += g.params[k]
    for k, v in param_sum.items():
        np.testing.assert_allclose(grads.params[k], v, rtol=1e-10, atol=1e-13, err_msg=k)


def test_full_lengths_equal_no_lengths() -> None:
    stack = make_stack("lstm", 2, 4, seed=0)
    x = np.random.default_rng(1).normal(size=(3, 5, 2))
    a, b = stack.forward(x), stack.forward(x, lengths=[5, 5, 5])
    np.testing.assert_array_equal(a.output, b.output)

"""Analytic gradients agree with central finite differences (float64, small shapes)."""

from __future__ import annotations

import numpy as np
import pytest

from gatecast.nn import Linear, RecurrentNet, bce_with_logits_loss, gradcheck, make_stack, mse_loss
from gatecast.nn.gradcheck import numerical_gradient, relative_error

TOL = 1e-6  # central differences with eps = 1e-6 are good to about 1e-9 relative here


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_stack_gradients_match_finite_differences(cell: str, layers: int) -> None:
    rng = np.random.default_rng(layers)
    stack = make_stack(cell, 2, 3, layers, seed=layers)
    x = rng.normal(size=(3, 5, 2))
    shape = (layers, 3, 3)
    state = (
        (rng.normal(size=shape), rng.normal(size=shape))
        if cell == "lstm"
        else rng.normal(size=shape)
    )
    errors = gradcheck(stack, x, state, lengths=[5, 2, 4])
    assert set(errors) >= {*stack.params, "x", "h0"}
    assert max(errors.values()) < TOL, errors


def test_gradcheck_catches_a_wrong_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    from gatecast.nn import cells

    def broken(dh, dc, cache, W_hh):  # forgets that c also reaches the loss through h
        d_gi, d_gh, dh_prev, dc_prev = original(dh, dc * 0.0, cache, W_hh)
        return d_gi, d_gh, dh_prev, dc_prev

    original = cells.lstm_step_backward
    monkeypatch.setattr(cells, "lstm_step_backward", broken)
    errors = gradcheck(make_stack("lstm", 2, 3, seed=0), np.ones((2, 4, 2)))
    assert max(errors.values()) > 1e-2


def test_linear_and_head_gradients() -> None:
    rng = np.random.default_rng(0)
    lin = Linear(4, 3, seed=0)
    x, r = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))

    def loss() -> float:
        return float(np.sum(r * lin(x)))

    grads, dx = lin.backward(r, x)
    for name, p in lin.params.items():
        assert relative_error(grads[name], numerical_gradient(loss, p)) < TOL
    assert relative_error(dx, numerical_gradient(loss, x)) < TOL


@pytest.mark.parametrize("loss_name", ["mse", "bce"])
def test_network_gradients_including_loss(loss_name: str) -> None:
    rng = np.random.default_rng(1)
    net = RecurrentNet("gru", input_size=2, hidden_size=4, num_layers=2, seed=3)
    x = rng.normal(size=(4, 6, 2))
    y = rng.normal(size=(4, 1)) if loss_name == "mse" else (rng.random((4, 1)) > 0.5).astype(float)
    _, grads = net.loss_and_grads(x, y, loss_name)
    for name, p in net.params.items():
        numeric = numerical_gradient(lambda: net.loss_and_grads(x, y, loss_name)[0], p)
        assert relative_error(grads[name], numeric) < TOL, name


@pytest.mark.parametrize("loss", [mse_loss, bce_with_logits_loss])
def test_loss_gradients(loss) -> None:
    rng = np.random.default_rng(2)
    pred = rng.normal(size=(7, 2)) * 5
    target = (rng.random((7, 2)) > 0.5).astype(float)
    _, grad = loss(pred, target)
    assert relative_error(grad, numerical_gradient(lambda: loss(pred, target)[0], pred)) < TOL


def test_losses_equal_torch() -> None:
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(3)
    pred, target = rng.normal(size=(9,)) * 30, (rng.random(9) > 0.5).astype(float)
    for mine, theirs in (
        (mse_loss, F.mse_loss),
        (bce_with_logits_loss, F.binary_cross_entropy_with_logits),
    ):
        p = torch.tensor(pred, requires_grad=True)
        value = theirs(p, torch.tensor(target))
        value.backward()
        v, g = mine(pred, target)
        np.testing.assert_allclose(v, value.item(), rtol=1e-12)
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-9, atol=1e-15)

"""Optimisers match torch.optim step for step; a NumPy LSTM learns a noisy sine from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatecast.nn import SGD, Adam, RecurrentNet, clip_grad_norm, to_torch

from .torch_reference import one_thread


def _batches(seed: int, n: int = 5, batch: int = 8, time: int = 7, features: int = 2):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(batch, time, features)), rng.normal(size=(batch, 1))) for _ in range(n)
    ]


def _torch_train(
    net: RecurrentNet, batches, make_opt, max_norm: float | None
) -> dict[str, np.ndarray]:
    with one_thread():
        module = to_torch(net)
        opt = make_opt(module.parameters())
        for x, y in batches:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(module(torch.tensor(x)), torch.tensor(y))
            loss.backward()
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm)
            opt.step()
        return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _numpy_train(net: RecurrentNet, batches, opt, max_norm: float | None) -> dict[str, np.ndarray]:
    for x, y in batches:
        _, grads = net.loss_and_grads(x, y)
        if max_norm is not None:
            clip_grad_norm(grads, max_norm)
        opt.step(grads)
    return net.params


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("max_norm", [None, 0.05])
def test_five_adam_steps_equal_torch(cell: str, max_norm: float | None) -> None:
    batches = _batches(seed=1)
    net = RecurrentNet(cell, input_size=2, hidden_size=6, num_layers=2, seed=4)
    ref = _torch_train(
        net, batches, lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3), max_norm
    )
    mine = _numpy_train(net, batches, Adam(net.params, lr=0.01, weight_decay=1e-3), max_norm)
    for name, value in ref.items():
        np.testing.assert_allclose(mine[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    start = RecurrentNet(cell, input_size=2, hidden_size=6, num_layers=2, seed=4).params
    assert not np.allclose(mine["rnn.weight_hh_l0"], start["rnn.weight_hh_l0"]), "the weights moved"


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_equals_torch(nesterov: bool) -> None:
    batches = _batches(seed=2)
    net = RecurrentNet("lstm", input_size=2, hidden_size=5, seed=1)
    kw = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-2, "nesterov": nesterov}
    ref = _torch_train(net, batches, lambda p: torch.optim.SGD(p, **kw), None)
    mine = _numpy_train(net, batches, SGD(net.params, **kw), None)
    for name, value in ref.items():
        np.testing.assert_allclose(mine[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_equals_torch(norm_type: float) -> None:
    rng = np.random.default_rng(0)
    grads = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    tensors = [
        torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads.values()
    ]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.tensor(g)
    ref = torch.nn.utils.clip_grad_norm_(tensors, 0.5, norm_type=norm_type)
    total = clip_grad_norm(grads, 0.5, norm_type=norm_type)
    np.testing.assert_allclose(total, ref.item(), rtol=1e-12)
    for t, g in zip(tensors, grads.values(), strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


def test_lstm_learns_a_noisy_sine() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(1200)
    series = np.sin(2 * np.pi * t / 25) + 0.1 * rng.normal(size=t.size)
    window = 20
    idx = np.arange(window)[None, :] + np.arange(series.size - window)[:, None]
    x, y = series[idx][..., None], series[idx[:, -1] + 1][:, None]
    n_train = 900  # windows 0..899 (targets up to row 919) train; the later windows test
    test = slice(n_train, None)

    net = RecurrentNet("lstm", input_size=1, hidden_size=16, seed=0)
    opt = Adam(net.params, lr=0.01)
    for _ in range(250):
        batch = rng.integers(0, n_train, size=32)
        _, grads = net.loss_and_grads(x[batch], y[batch])
        clip_grad_norm(grads, 1.0)
        opt.step(grads)
    mse = float(np.mean((net(x[test]) - y[test]) ** 2))
    no_change = float(np.mean((x[test][:, -1] - y[test]) ** 2))
    assert mse < 0.5 * no_change, (mse, no_change)

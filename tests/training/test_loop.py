"""The training loop: batching, early stopping with restore, seeding, device choice, divergence."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gatecast.errors import ConfigError, TrainingDivergedError
from gatecast.training.loop import TrainConfig, resolve_device, train_loop


def _data(n=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, 2, generator=g)
    y = X[:, -1, :1] * 0.5 + 0.1 * torch.randn(n, 1, generator=g)
    return X, y


class Last(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x):
        return self.lin(x[:, -1, :])


@pytest.mark.parametrize(("batch_size", "steps_per_epoch"), [(0, 1), (32, 4), (100, 1), (30, 4)])
def test_batches_per_epoch(batch_size, steps_per_epoch, monkeypatch):
    calls = []
    orig = torch.optim.Adam.step

    def counting_step(self, *a, **k):
        calls.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    torch.manual_seed(0)
    net = Last()
    res = train_loop(
        net, _data(), None, TrainConfig(epochs=3, batch_size=batch_size, patience=0), nn.MSELoss()
    )
    assert len(calls) == 3 * steps_per_epoch
    assert res.epochs_run == 3 and len(res.history["train_loss"]) == 3


def test_early_stopping_restores_best_weights():
    torch.manual_seed(0)
    X, y = _data(200)
    # validation targets of the opposite sign: fitting the training data makes it worse
    Xv, yv = X[:50], -y[:50] * 5
    net = Last()
    res = train_loop(
        net,
        (X, y),
        (Xv, yv),
        TrainConfig(epochs=200, batch_size=16, lr=0.05, patience=3),
        nn.MSELoss(),
    )
    assert res.stopped_early and res.epochs_run < 200
    assert res.epochs_run - res.best_epoch == 3
    with torch.no_grad():
        final_val = float(nn.MSELoss()(net(Xv), yv))
    assert final_val == pytest.approx(min(res.history["val_loss"]), rel=1e-6)
    assert final_val < res.history["val_loss"][-1]


def test_clipping_is_applied(monkeypatch):
    seen = []
    orig = nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **k):
        seen.append(max_norm)
        return orig(params, max_norm, *a, **k)

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", spy)
    train_loop(
        Last(),
        _data(),
        None,
        TrainConfig(epochs=1, batch_size=50, clip=0.5, patience=0),
        nn.MSELoss(),
    )
    assert seen == [0.5, 0.5]
    seen.clear()
    train_loop(
        Last(),
        _data(),
        None,
        TrainConfig(epochs=1, batch_size=50, clip=0, patience=0),
        nn.MSELoss(),
    )
    assert seen == []


def test_same_seed_same_weights():
    def run(seed):
        torch.manual_seed(seed)
        net = Last()
        train_loop(
            net,
            _data(),
            None,
            TrainConfig(epochs=5, batch_size=8, seed=seed, patience=0),
            nn.MSELoss(),
        )
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_divergence_is_a_clear_error():
    X, y = _data()
    y = y * float("inf")
    with pytest.raises(TrainingDivergedError, match="training loss became"):
        train_loop(Last(), (X, y), None, TrainConfig(epochs=2, patience=0), nn.MSELoss())


def test_config_validation_and_device():
    with pytest.raises(ConfigError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig(lr=0)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert math.isfinite(TrainConfig().lr)

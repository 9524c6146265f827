"""The stateful (sequence-mode) training loop, by behaviour: the state one chunk hands the next,
the burn-in left out of the loss, and what carrying the state buys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import gatecast.training.sequence as sequence
from gatecast.errors import ConfigError
from gatecast.models.recurrent.net import RecurrentNet
from gatecast.training.config import TrainConfig
from gatecast.training.sequence import Lanes, train_sequence_loop


def squared(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (pred - y) ** 2


def random_lanes(lengths: list[int], seed: int = 0, features: int = 2) -> Lanes:
    rng = np.random.default_rng(seed)
    T = max(lengths)
    x = rng.standard_normal((len(lengths), T, features))
    y = rng.standard_normal((len(lengths), T, 1))
    for i, n in enumerate(lengths):  # padding
        x[i, n:], y[i, n:] = 0.0, 0.0
    return Lanes(torch.tensor(x), torch.tensor(y), np.array(lengths))


def net(cell: str, features: int = 2, hidden: int = 4, seed: int = 0) -> RecurrentNet:
    torch.manual_seed(seed)
    return RecurrentNet(cell, features, hidden, 2 if cell == "lstm" else 1, 0.0).double()


def as_tuple(state: Any) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_each_chunk_starts_from_the_detached_final_state_of_the_one_before(cell: str) -> None:
    model = net(cell)
    lanes = random_lanes([20, 20, 14])  # the third lane ends inside the third chunk
    calls: list[dict[str, Any]] = []
    forward = model.forward_sequence

    def recorded(x, state=None, *, lengths=None):
        pred, new = forward(x, state, lengths=lengths)
        calls.append({"x": x, "state": state, "new": new, "lengths": lengths})
        return pred, new

    model.forward_sequence = recorded  # type: ignore[method-assign]
    cfg = TrainConfig(epochs=2, lr=0.01, patience=0)
    train_sequence_loop(model, lanes, None, cfg, squared, chunk_len=6, burn_in=2)
    assert len(calls) == 2 * 4  # 4 chunks of 6 steps per epoch (20 steps), 2 epochs
    lengths = torch.as_tensor(lanes.lengths)
    for k, call in enumerate(calls):
        chunk = k % 4
        start, width = 6 * chunk, min(6, 20 - 6 * chunk)
        active = torch.nonzero(lengths > start).flatten()
        torch.testing.assert_close(call["x"], lanes.x[active, start : start + width])
        if chunk == 0:  # every epoch starts every lane from zeros
            assert all(float(s.abs().max()) == 0.0 for s in as_tuple(call["state"]))
            carried = [torch.zeros_like(s) for s in as_tuple(call["state"])]
        else:
            for got, kept in zip(as_tuple(call["state"]), carried, strict=True):
                assert not got.requires_grad  # detached: truncated BPTT
                assert torch.equal(got, kept[:, active])
        for kept, final in zip(carried, as_tuple(call["new"]), strict=True):
            assert final.requires_grad
            kept[:, active] = final.detach()  # what this chunk hands on, lane by lane
    # the short lane: its length inside the third chunk is passed on (packed), its final state is
    # the one at its last valid step, and it is left out of the fourth chunk
    third = calls[2]
    assert third["lengths"] is not None and third["lengths"].tolist() == [6, 6, 2]
    assert calls[3]["x"].shape[0] == 2


def test_the_loss_ignores_the_first_burn_in_steps_of_each_lane() -> None:
    lanes = random_lanes([24, 24, 18], seed=1)

    def trained(y: torch.Tensor, burn_in: int = 5) -> dict[str, torch.Tensor]:
        model = net("gru", seed=3)
        changed = Lanes(lanes.x, y, lanes.lengths)
        cfg = TrainConfig(epochs=3, lr=0.05, patience=0)
        train_sequence_loop(model, changed, None, cfg, squared, chunk_len=4, burn_in=burn_in)
        return model.state_dict()

    def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    base = trained(lanes.y)
    y = lanes.y.clone()
    y[:, :5] += 100.0  # the burn-in of every lane (the whole first chunk and one more step)
    assert same(trained(y), base)
    for step in (5, 9, 17):  # the first step after the burn-in; later chunks have none
        y = lanes.y.clone()
        y[2, step] += 1.0
        assert not same(trained(y), base), step
    # with no burn-in, the first step counts
    y = lanes.y.clone()
    y[0, 0] += 1.0
    assert not same(trained(y, burn_in=0), trained(lanes.y, burn_in=0))


def test_burn_in_and_chunk_length_are_checked() -> None:
    lanes = random_lanes([10, 8])
    cfg = TrainConfig(epochs=1, patience=0)
    with pytest.raises(ConfigError, match="chunk_len=0 must be >= 1 and burn_in=2 >= 0"):
        train_sequence_loop(net("gru"), lanes, None, cfg, squared, chunk_len=0, burn_in=2)
    with pytest.raises(ConfigError, match=r"no training step lies past the burn-in of 10 steps"):
        train_sequence_loop(net("gru"), lanes, None, cfg, squared, chunk_len=4, burn_in=10)


def _noisy_level(n: int, seed: int, phi: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """A slowly moving level m (AR(1), unit variance) seen through unit noise: x = m + e."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    m = np.zeros(n)
    for t in range(1, n):
        m[t] = phi * m[t - 1] + w[t]
    return m + rng.standard_normal(n), m


def _kalman_mse(phi: float = 0.99, q: float = 1 - 0.99**2, r: float = 1.0) -> float:
    """The steady-state error variance of the optimal (Kalman) filter of the level."""
    p = 1.0
    for _ in range(2000):
        prior = phi**2 * p + q
        p = prior * r / (prior + r)
    return p


def test_memory_longer_than_a_chunk_is_learnt_only_with_the_carried_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The best estimate of the level averages ~10 noisy steps, far more than the 3 of a chunk:
    with the state carried from chunk to chunk the net learns a near-optimal filter; restarted
    from zeros at every chunk it learns a short one that is much worse on a long series."""
    xs, ms = zip(*[_noisy_level(90, seed) for seed in range(6)], strict=True)
    lanes = Lanes(
        torch.tensor(np.array(xs))[..., None], torch.tensor(np.array(ms))[..., None], np.full(6, 90)
    )
    x, m = _noisy_level(3000, seed=99)

    def held_out_mse() -> float:
        model = net("gru", features=1, hidden=4, seed=0)
        cfg = TrainConfig(epochs=12, lr=0.03, patience=0)
        train_sequence_loop(model, lanes, None, cfg, squared, chunk_len=3, burn_in=0)
        with torch.no_grad():
            pred, _ = model.forward_sequence(torch.tensor(x)[None, :, None])
        return float(np.mean((pred[0, :, 0].numpy() - m) ** 2))

    carried = held_out_mse()
    with monkeypatch.context() as mp:  # what forgetting the state between chunks would do
        mp.setattr(sequence, "scatter_state", lambda state, idx, new: state * 0.0)
        zeroed = held_out_mse()
    best = _kalman_mse()
    assert carried < 1.25 * best  # close to the optimal filter (about 0.125 here) ...
    assert carried < 0.75 * zeroed  # ... and far better than a net that forgets between chunks


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_no_copy_path_for_all_lanes_trains_the_same_weights_as_the_copying_one(
    cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # while every lane runs, the state is the chunk's final state itself (no gather, no copy);
    # forcing the general gather/scatter path instead must give the same weights bit for bit
    lanes = random_lanes([30, 30, 21])  # chunks of 7: the third lane is done after three
    cfg = TrainConfig(epochs=2, lr=0.01, patience=0)

    def trained() -> list[torch.Tensor]:
        model = net(cell)
        train_sequence_loop(model, lanes, None, cfg, squared, chunk_len=7, burn_in=2)
        return [p.detach().clone() for p in model.parameters()]

    fast = trained()
    original = sequence.scatter_state
    used: list[bool] = []

    def copying(state: Any, idx: Any, new: Any) -> Any:
        used.append(idx is None)
        every = torch.arange(len(lanes.lengths))
        return original(state, every if idx is None else idx, new)

    monkeypatch.setattr(sequence, "scatter_state", copying)
    slow = trained()
    assert used.count(True) == 2 * 3  # chunks 1-3 of each epoch ran every lane
    assert False in used  # chunks 4-5 gather two lanes (the LSTM's (h, c) recurses per part)
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a, b)


def test_the_fused_adam_step_matches_torchs_per_tensor_adam() -> None:
    # oracle: torch's reference (for-loop) Adam, on the same gradients, 20 steps
    torch.manual_seed(0)
    a, b = net("lstm"), net("lstm")
    cfg = TrainConfig(lr=0.01, weight_decay=1e-3)
    fused = sequence._adam(list(a.parameters()), cfg)
    ref = torch.optim.Adam(b.parameters(), lr=0.01, weight_decay=1e-3, foreach=False)
    for _ in range(20):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        fused.step()
        ref.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)  # float64
    assert fused.defaults.get("fused") is True  # the fused kernel is what runs (torch >= 2.4)

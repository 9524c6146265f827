"""Variable-length sequences: a padded, packed batch is each sequence run alone; fit_many trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gatecast.nn as nn_np
from gatecast.data import ar1_prices, load
from gatecast.data.sequences import length_mask, pad_sequences, split_lanes
from gatecast.errors import ConfigError
from gatecast.models.recurrent import RecurrentForecaster, RecurrentNet
from gatecast.training.loop import TrainConfig
from gatecast.training.sequence import Lanes, train_sequence_loop

LENGTHS = [7, 3, 9, 1, 5]


def _batch(cell: str, seed: int = 0):
    torch.manual_seed(seed)
    net = RecurrentNet(cell, input_size=2, hidden=6, layers=2).double()
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(n, 2)) for n in LENGTHS]
    targets = [rng.normal(size=(n, 1)) for n in LENGTHS]
    return net, seqs, targets


def _zero_grads(net):
    for p in net.parameters():
        p.grad = None


def _grads(net):
    return {k: p.grad.clone() for k, p in net.named_parameters()}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_packed_batch_equals_each_sequence_alone(cell):
    net, seqs, targets = _batch(cell)
    x, lengths = pad_sequences(seqs)
    y, _ = pad_sequences(targets)
    X, Y = torch.tensor(x), torch.tensor(y)
    mask = torch.tensor(length_mask(lengths, x.shape[1]), dtype=torch.float64)[..., None]
    pred, state = net.forward_sequence(X, lengths=lengths)
    ((pred - Y) ** 2 * mask).sum().backward()
    batch_grads = _grads(net)
    h_final = state[0] if isinstance(state, tuple) else state

    alone_grads = None
    for i, (s, t) in enumerate(zip(seqs, targets, strict=True)):
        _zero_grads(net)
        p_i, st_i = net.forward_sequence(torch.tensor(s)[None])
        ((p_i - torch.tensor(t)[None]) ** 2).sum().backward()
        g = _grads(net)
        alone_grads = g if alone_grads is None else {k: alone_grads[k] + g[k] for k in g}
        torch.testing.assert_close(pred[i, : len(s)], p_i[0], rtol=0, atol=1e-12)
        h_i = st_i[0] if isinstance(st_i, tuple) else st_i
        torch.testing.assert_close(h_final[:, i], h_i[:, 0], rtol=0, atol=1e-12)
    for k in batch_grads:
        torch.testing.assert_close(batch_grads[k], alone_grads[k], rtol=0, atol=1e-10)


def test_packed_batch_carries_a_given_initial_state_per_sequence():
    net, seqs, _ = _batch("lstm", seed=1)
    x, lengths = pad_sequences(seqs)
    h0 = torch.randn(2, len(seqs), 6, dtype=torch.float64)
    c0 = torch.randn(2, len(seqs), 6, dtype=torch.float64)
    pred, _ = net.forward_sequence(torch.tensor(x), (h0, c0), lengths=lengths)
    for i, s in enumerate(seqs):
        p_i, _ = net.forward_sequence(torch.tensor(s)[None], (h0[:, i : i + 1], c0[:, i : i + 1]))
        torch.testing.assert_close(pred[i, : len(s)], p_i[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_numpy_engine_lengths_agree_with_torch_packing(cell):
    net, seqs, _ = _batch(cell, seed=2)
    x, lengths = pad_sequences(seqs)
    stack = nn_np.make_stack(cell, 2, 6, 2, dtype=np.float64)
    stack.load_params(
        {k[4:]: v.detach().numpy() for k, v in net.state_dict().items() if k.startswith("rnn.")}
    )
    out, state = stack(x, lengths=lengths)
    t_out, _ = net.rnn(
        torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(x), torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
    )
    t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True)
    t_out = t_out.detach()
    mask = length_mask(lengths, x.shape[1])
    np.testing.assert_allclose(out[mask], t_out.numpy()[mask], rtol=0, atol=1e-12)
    h = state[0] if isinstance(state, tuple) else state
    for i, n in enumerate(lengths):  # the final state sits at each sequence's last valid step
        np.testing.assert_allclose(h[-1, i], out[i, n - 1], rtol=0, atol=1e-12)


def test_loss_ignores_padding_values():
    # the same lanes with padding 0 and padding 1e6 train to the same weights
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 1)) for n in (40, 25, 12)]
    ys = [rng.normal(size=(n, 1)) for n in (40, 25, 12)]
    weights = []
    for fill in (0.0, 1e6):
        torch.manual_seed(0)
        net = RecurrentNet("gru", 1, hidden=4, layers=1).double()
        x, lengths = pad_sequences(seqs, value=fill)
        y, _ = pad_sequences(ys, value=fill)
        lanes = Lanes(torch.tensor(x), torch.tensor(y), lengths)
        train_sequence_loop(
            net,
            lanes,
            None,
            TrainConfig(epochs=2, patience=0),
            torch.nn.MSELoss(reduction="none"),
            chunk_len=8,
            burn_in=3,
        )
        weights.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=1e-12)


def test_pad_and_split_helpers():
    x, lengths = pad_sequences([np.ones(3), np.ones(1)], value=-1.0)
    assert x.tolist() == [[1, 1, 1], [1, -1, -1]] and lengths.tolist() == [3, 1]
    assert split_lanes(10, 3) == [(0, 4), (4, 8), (8, 10)]
    assert split_lanes(2, 5) == [(0, 1), (1, 2)]
    with pytest.raises(
        ConfigError, match=r"every sequence needs at least one step; lengths are \[2, 0\]"
    ):
        pad_sequences([np.ones(2), np.ones(0)])


def test_fit_many_on_bundled_series_and_a_short_user_series():
    # (wti has NaN holidays, and load(..., dropna=True) keeps them for bundled data: drop here)
    frames = {name: load(name, dropna=True).iloc[-700:] for name in ("sp500", "nasdaq", "wti")}
    frames["mine"] = ar1_prices(150, phi=0.5, sigma=0.01, seed=0)
    m = RecurrentForecaster(
        mode="sequence", hidden=8, layers=1, epochs=2, chunks=8, chunk_len=32, seed=0
    ).fit_many(frames)
    assert set(m.series_) == set(frames)
    assert m.series_["mine"]["rows"] == 148  # 150 prices: first return, one step ahead
    assert m.series_["wti"]["column"] == "close" and m.series_["sp500"]["column"] == "adj_close"
    for name, df in frames.items():
        fc = m.predict(df)
        assert len(fc) == len(df) - 2 and np.isfinite(fc.to_numpy()).all(), name
    assert len(m.result_.history["val_loss"]) == m.result_.epochs_run


def test_fit_many_small():
    frames = {
        "a": ar1_prices(300, phi=0.5, sigma=0.01, seed=0),
        "b": ar1_prices(90, phi=0.5, sigma=0.01, seed=1),
    }
    m = RecurrentForecaster(
        mode="sequence", hidden=4, layers=1, epochs=1, chunks=4, chunk_len=16, burn_in=2, seed=0
    ).fit_many(frames)
    assert m.series_["b"]["rows"] == 88 and m.series_["b"]["val_rows"] == 7
    assert np.isfinite(m.predict(frames["b"]).to_numpy()).all()

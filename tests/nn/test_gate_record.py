"""forward(..., record=True) gives every step's gates, with named axes, obeying the equations."""

from __future__ import annotations

import numpy as np

from gatecast.nn import GRU, LSTM, RNN


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_lstm_record_obeys_the_cell_equations() -> None:
    lstm = LSTM(2, 4, num_layers=2, seed=0)
    x = np.random.default_rng(0).normal(size=(3, 6, 2))
    out = lstm.forward(x, record=True)
    rec = out.record
    assert rec is not None and rec.cell == "lstm"
    assert rec.dims == ("layer", "batch", "time", "unit")
    assert rec.names == ("i", "f", "g", "o", "c", "h")
    assert all(v.shape == (2, 3, 6, 4) for v in rec.values.values())
    c_prev = np.concatenate([np.zeros((2, 3, 1, 4)), rec["c"][:, :, :-1]], axis=2)
    np.testing.assert_allclose(rec["c"], rec["f"] * c_prev + rec["i"] * rec["g"], atol=1e-15)
    np.testing.assert_allclose(rec["h"], rec["o"] * np.tanh(rec["c"]), atol=1e-15)
    np.testing.assert_allclose(rec["h"][-1], out.output, atol=0)
    assert ((rec["i"] > 0) & (rec["i"] < 1)).all()


def test_gru_and_rnn_records() -> None:
    x = np.random.default_rng(1).normal(size=(2, 5, 3))
    gru = GRU(3, 4, seed=0)
    rec = gru.forward(x, record=True).record
    assert rec.names == ("r", "z", "n", "h")
    h_prev = np.concatenate([np.zeros((1, 2, 1, 4)), rec["h"][:, :, :-1]], axis=2)
    np.testing.assert_allclose(rec["h"], (1 - rec["z"]) * rec["n"] + rec["z"] * h_prev, atol=1e-15)
    rnn = RNN(3, 4, num_layers=3, seed=0)
    rec = rnn.forward(x, record=True).record
    assert rec.names == ("a", "h") and rec["a"].shape == (3, 2, 5, 4)
    np.testing.assert_allclose(rec["h"], np.tanh(rec["a"]), atol=0)


def test_record_marks_padding_with_nan_and_select_drops_it() -> None:
    lstm = LSTM(1, 3, seed=0)
    rec = lstm.forward(np.ones((2, 4, 1)), lengths=[4, 2], record=True).record
    assert np.isnan(rec["f"][0, 1, 2:]).all() and not np.isnan(rec["f"][0, 0]).any()
    one = rec.select(layer=0, batch=1)
    assert one["c"].shape == (2, 3) and not np.isnan(one["c"]).any()
    assert list(rec.lengths) == [4, 2]


def test_no_record_by_default() -> None:
    assert LSTM(1, 2).forward(np.ones((1, 2, 1))).record is None

"""The global recurrent variance model: pooled windows from one instrument each, per-instrument
scalers and levels from each instrument's training rows only, the folded single-series view,
new instruments and their minimum history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import gatecast.models.recurrent.global_variance as gv
from gatecast.data.volatility import percent_returns
from gatecast.data.windows import make_windows
from gatecast.errors import PanelError, TooFewRowsError
from gatecast.models.config import CLOSE_FEATURES
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.models.recurrent.variance import variance_features


def _model(**kw: object) -> GlobalRecurrentVariance:
    settings: dict[str, object] = {"hidden": 4, "epochs": 1, "device": "cpu", "seed": 0} | kw
    return GlobalRecurrentVariance(**settings)  # type: ignore[arg-type]


def test_pooled_windows_come_from_one_instrument_each(
    unaligned_panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, torch.Tensor] = {}
    real = gv.train_loop

    def spy(net, train, val, *args, **kw):  # type: ignore[no-untyped-def]
        seen["X"] = torch.cat([train[0], val[0]])
        seen["y"] = torch.cat([train[1], val[1]])
        return real(net, train, val, *args, **kw)

    monkeypatch.setattr(gv, "train_loop", spy)
    panel = unaligned_panel()
    m = _model().fit(panel)
    expected_X, expected_y = [], []
    for n, df in panel.items():
        feats = variance_features(df, CLOSE_FEATURES, "close")
        win = make_windows(
            feats,
            percent_returns(df, "close") ** 2 / m.levels_[n],
            5,
            values=m.scalers_[n].transform(feats.to_numpy()),
        )
        # each instrument's windows: its rows after the 22 its inputs need, 5 per window
        assert len(win) == len(df) - 22 - 5
        n_train = len(win) - int(round(len(win) * 0.15))
        expected_X.append((win.X[:n_train], win.X[n_train:]))
        expected_y.append((win.y[:n_train], win.y[n_train:]))
    # the pooled order: every instrument's training windows, then every validation tail
    want_X = np.concatenate([x[0] for x in expected_X] + [x[1] for x in expected_X])
    want_y = np.concatenate([y[0] for y in expected_y] + [y[1] for y in expected_y])
    np.testing.assert_allclose(seen["X"].numpy(), want_X, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(seen["y"].numpy()[:, 0], want_y, rtol=1e-6)


def test_scalers_and_levels_come_from_each_instruments_training_rows(unaligned_panel) -> None:
    panel = unaligned_panel()
    m = _model().fit(panel)
    for n, df in panel.items():
        end = pd.Timestamp(m.train_ranges_[n][1])
        feats = variance_features(df, CLOSE_FEATURES, "close")
        rows = feats.loc[feats.index <= end].dropna().to_numpy()
        np.testing.assert_allclose(m.scalers_[n].shift_, rows.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(m.scalers_[n].scale_, rows.std(axis=0), rtol=1e-12)
        # the level: the mean squared percent return over its training targets
        r2 = percent_returns(df, "close") ** 2
        first_target = feats.dropna().index[5]
        assert m.levels_[n] == pytest.approx(float(r2.loc[first_target:end].mean()), rel=1e-12)
    # rows after an instrument's training range, and every row of another instrument, move
    # neither its scaler nor its level
    changed = dict(panel)
    a = panel["A"].copy()
    late = a.index > pd.Timestamp(m.train_ranges_["A"][1])
    a.loc[late, "close"] *= np.linspace(0.5, 3.0, int(late.sum()))
    changed["A"] = a
    changed["B"] = panel["B"] * np.exp(np.sin(np.arange(len(panel["B"])))[:, None])
    m2 = _model().fit(changed)
    for n in ("A", "C"):
        np.testing.assert_array_equal(m2.scalers_[n].shift_, m.scalers_[n].shift_)
        np.testing.assert_array_equal(m2.scalers_[n].scale_, m.scalers_[n].scale_)
        assert m2.levels_[n] == m.levels_[n]
    assert not np.allclose(m2.scalers_["B"].shift_, m.scalers_["B"].shift_)


@pytest.mark.parametrize("embedding", [False, True])
def test_one_instrument_view_equals_the_pooled_net(unaligned_panel, embedding: bool) -> None:
    panel = unaligned_panel()
    m = _model(embedding=embedding).fit(panel)
    for n, df in panel.items():
        fc = m.predict_instrument(n, df)
        feats = variance_features(df, CLOSE_FEATURES, "close")
        win = make_windows(feats, None, 5, values=m.scalers_[n].transform(feats.to_numpy()))
        X = win.X
        if embedding:
            X = np.concatenate([X, m._one_hot(np.full(len(X), n, object), m.instruments_, 5)], 2)
        assert m.net_ is not None
        with torch.no_grad():
            raw = m.net_(torch.tensor(X, dtype=torch.float32)).numpy()[:, 0]
        # the folded biases against the one-hot input and the explicit level: float32 rounding
        np.testing.assert_allclose(fc.to_numpy(), np.exp(raw) * m.levels_[n], rtol=1e-5)
        assert fc.index.equals(win.index)


def test_long_frame_out_and_the_embedding_differs_per_instrument(unaligned_panel) -> None:
    panel = unaligned_panel()
    m = _model(embedding=True, epochs=3).fit(panel)
    out = m.predict(panel, start="2010-06-01")
    assert list(out.columns) == ["instrument", "date", "forecast"]
    assert set(out.instrument) == {"A", "B", "C"}
    assert (out.date >= pd.Timestamp("2010-06-01")).all()
    biases = [m.for_instrument(n).net_.rnn.bias_ih_l0.detach().numpy() for n in "AB"]  # type: ignore[union-attr]
    assert not np.allclose(biases[0], biases[1])


def test_a_new_instrument_needs_its_minimum_history(random_walk, unaligned_panel) -> None:
    panel = unaligned_panel()
    m = _model().fit(panel)
    assert m.min_history() == 27  # 22 rows for log_rv22, then a window of 5
    new = random_walk(9, 120, "2012-01-02", 2.0)
    out = m.predict({"NEW": new}, start=new.index[27])
    assert out.date.iloc[0] == new.index[27]
    with pytest.raises(TooFewRowsError, match=r"'NEW' has 26 rows before .* at least 27"):
        m.predict({"NEW": new}, start=new.index[26])
    emb = _model(embedding=True).fit(panel)
    with pytest.raises(PanelError, match=r"'NEW' was not in the fit .* embedding=True"):
        emb.predict({"NEW": new}, start=new.index[40])


def test_short_instrument_and_single_frame_are_refused_by_name(unaligned_panel) -> None:
    panel = unaligned_panel()
    panel["D"] = panel["A"].iloc[:20]
    with pytest.raises(TooFewRowsError, match=r"instrument 'D' has 20 rows.*at least 31"):
        _model().fit(panel)
    with pytest.raises(PanelError, match="takes a panel"):
        _model().fit(panel["A"])


def test_same_seed_same_weights(unaligned_panel) -> None:
    panel = unaligned_panel()
    a, b = _model().fit(panel).warm_state(), _model().fit(panel).warm_state()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])

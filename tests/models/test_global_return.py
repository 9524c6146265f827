"""The global recurrent return model: per-instrument scalers from each instrument's training
rows only, the single-series view equal to the pooled net, save/load, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatecast.data.features import build_features, training_target
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError, ModelFileError, PanelError
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

#: the unaligned panel (unaligned calendars and very different spreads: a mixed-up scaler would
#: show), shorter than the variance model's
LENGTHS = (200, 180, 190)


def _model(**kw: object) -> GlobalRecurrentReturn:
    settings: dict[str, object] = {
        "hidden": 4,
        "layers": 1,
        "window": 5,
        "epochs": 1,
        "device": "cpu",
        "seed": 0,
    } | kw
    return GlobalRecurrentReturn(**settings)  # type: ignore[arg-type]


def test_scalers_come_from_each_instruments_training_rows_only(unaligned_panel) -> None:
    panel = unaligned_panel(LENGTHS)
    m = _model().fit(panel)
    for n, df in panel.items():
        feats = build_features(df, ("return",), "close", log=True)
        y = training_target(df, m.resolved_.target, "close")
        win = make_windows(feats, y, 5, 1)
        n_train = len(win) - int(round(len(win) * 0.1))
        end = win.index[n_train - 1]
        assert pd.Timestamp(m.train_ranges_[n][1]) == end
        rows = feats.to_numpy()[(feats.index <= end)]
        rows = rows[np.isfinite(rows).all(axis=1)]
        np.testing.assert_allclose(m.scalers_[n].shift_, rows.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(m.target_scalers_[n].shift_[0], win.y[:n_train].mean())
        np.testing.assert_allclose(m.target_scalers_[n].scale_[0], win.y[:n_train].std(), rtol=1e-6)
    # a change after an instrument's training end moves none of its scalers
    cut = {n: pd.Timestamp(m.train_ranges_[n][1]) for n in panel}
    moved = {n: df.copy() for n, df in panel.items()}
    for n, df in moved.items():
        df.loc[df.index > cut[n] + pd.Timedelta(days=3), "close"] *= 3.0
    m2 = _model().fit(moved)
    for n in panel:
        np.testing.assert_array_equal(m2.scalers_[n].shift_, m.scalers_[n].shift_)
        np.testing.assert_array_equal(m2.target_scalers_[n].scale_, m.target_scalers_[n].scale_)


@pytest.mark.parametrize("embedding", [False, True])
def test_one_instrument_view_equals_the_pooled_net(unaligned_panel, embedding: bool) -> None:
    import torch

    panel = unaligned_panel(LENGTHS)
    m = _model(embedding=embedding).fit(panel)
    net = m._check_fitted()
    n = "B"
    df = panel[n]
    view = m.for_instrument(n)
    fc = view.predict(df, start=df.index[100])
    # by hand: the pooled net on the scaled window (+ one-hot), its output unscaled
    feats = build_features(df, ("return",), "close", log=True)
    x = m.scalers_[n].transform(feats.to_numpy())
    pos = int(df.index.get_loc(df.index[100]))
    win = x[pos - 5 : pos]
    if embedding:
        hot = np.zeros((5, 3))
        hot[:, 1] = 1.0
        win = np.concatenate([win, hot], axis=1)
    with torch.no_grad():
        out = float(net(torch.as_tensor(win[None], dtype=torch.float32))[0, 0])
    want = m.target_scalers_[n].inverse_transform(np.array([out]))[0]
    np.testing.assert_allclose(fc.iloc[0], want, rtol=1e-5, atol=1e-9)
    long = m.predict({n: df}, start=df.index[100])
    np.testing.assert_allclose(long["forecast"].to_numpy(), fc.to_numpy(), rtol=1e-6)


def test_save_load_gives_identical_forecasts_and_refuses_tampering(
    unaligned_panel, tmp_path: Path
) -> None:
    panel = unaligned_panel(LENGTHS)
    m = _model(embedding=True).fit(panel)
    folder = m.save(tmp_path / "g")
    back = GlobalRecurrentReturn.load(folder, device="cpu")
    for n, df in panel.items():
        a = m.predict_instrument(n, df, start=df.index[120])
        b = back.predict_instrument(n, df, start=df.index[120])
        np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    # the manifest is covered by its checksum
    manifest = folder / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"A"', '"Z"'))
    with pytest.raises(ModelFileError):
        GlobalRecurrentReturn.load(folder, device="cpu")


def test_same_seed_same_forecasts_and_refusals(random_walk, unaligned_panel) -> None:
    panel = unaligned_panel(LENGTHS)
    a = _model().fit(panel).predict(panel)
    b = _model().fit(panel).predict(panel)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(PanelError, match="takes a panel"):
        _model().fit(panel["A"])
    with pytest.raises(ConfigError, match="one-step return or its direction"):
        _model(target="price")
    m = _model(embedding=True).fit(panel)
    with pytest.raises(PanelError, match="'D'"):
        m.for_instrument("D", panel["A"])
    # a new instrument without embedding: its scalers from its history
    m = _model().fit(panel)
    new = random_walk(9, 120, "2011-01-03", 2.0)
    fc = m.predict({"D": new}, start=new.index[60])
    assert len(fc) == 60 and np.isfinite(fc["forecast"]).all()


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_the_stream_set_forecasts_are_predicts(
    unaligned_panel, stream_panel, engine: str, tmp_path: Path
) -> None:
    panel = unaligned_panel(LENGTHS)
    m = GlobalRecurrentReturn.load(_model(embedding=True).fit(panel).save(tmp_path / "g"))
    ss = m.stream_set(engine)
    streamed = stream_panel(ss, panel)
    ref = m.predict(panel)
    for n, df in panel.items():
        got = streamed[n]  # dated by the next row
        want = ref[ref.instrument == n].set_index("date").forecast.reindex(df.index)
        assert want.notna().sum() > 150
        np.testing.assert_allclose(got[want.notna()], want[want.notna()], rtol=1e-5, atol=1e-9)
    with pytest.raises(PanelError, match="'E'"):
        ss.update_many({"E": 10.0}, at=panel["A"].index[-1] + pd.Timedelta(days=1))


def test_covariates_are_inputs_scaled_per_instrument_and_survive_save_load(
    unaligned_panel,
    tmp_path: Path,
) -> None:
    """Covariate columns follow the features as inputs; each instrument's feature scaler covers
    them, fit on its training rows only (the columns' training mean); the saved folder lists
    them, load forecasts as the fitted model does (same path), a frame without them is
    refused by name, and a stream whose rows carry them forecasts as predict does."""
    panel = {}
    for n, df in unaligned_panel(LENGTHS).items():
        x = np.random.default_rng(len(df)).standard_normal(len(df))
        panel[n] = df.assign(x1=x, x2=2.0 + 3.0 * x**2)
    m = _model(covariates=("x1", "x2")).fit(panel)
    assert m.resolved_.features == ("return", "x1", "x2")
    for n, df in panel.items():
        end = pd.Timestamp(m.train_ranges_[n][1])
        first = df.index[1]  # the first row with a return: the first input row
        rows = df.loc[(df.index >= first) & (df.index <= end), ["x1", "x2"]]
        np.testing.assert_allclose(m.scalers_[n].shift_[1:], rows.mean(axis=0), rtol=1e-10)
    view = m.for_instrument("A")
    assert view.spec_.features == ("return",) and view.spec_.covariates == ("x1", "x2")
    m.save(tmp_path / "g")
    again = GlobalRecurrentReturn.load(tmp_path / "g", device="cpu")
    start = panel["A"].index[150]
    a = m.predict(panel, start=start)
    assert len(a) > 50 and a.equals(again.predict(panel, start=start))
    with pytest.raises(ConfigError, match=r"covariate column\(s\) \['x1', 'x2'\]"):
        m.predict({"A": unaligned_panel(LENGTHS)["A"]}, start=start)
    # a stream's rows carry the covariates beside the price: the forecast after each row is
    # predict's for the next row (the stream's path against the batch's: float rounding)
    want = a[a["instrument"] == "A"].set_index("date")["forecast"]
    stream = view.stream()
    got = {}
    for day, row in panel["A"].loc[: want.index[-1]].iterrows():
        got[day] = stream.update(row.to_dict(), at=day)
    after = pd.Series(got).shift(1).loc[want.index]
    np.testing.assert_allclose(after.to_numpy(), want.to_numpy(), rtol=1e-5, atol=1e-9)

"""The variance model is served like the return model: save, load, NumPy-only predict, streams
that equal predict and a full forward pass, and a stream state that resumes exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load, make_windows
from gatecast.errors import ModelFileError
from gatecast.inference import model_inputs
from gatecast.models.recurrent import (
    RecurrentForecaster,
    RecurrentVariance,
    load_model,
    open_stream,
)
from gatecast.serve import load_numpy

FEATURES = ("return", "squared_return", "log_parkinson", "log_rv5")


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2013":"2015-06"]


@pytest.fixture(scope="module", params=["lstm", "gru"])
def fitted(request, spx, tmp_path_factory):
    m = RecurrentVariance(
        cell=request.param, hidden=5, window=8, epochs=2, features=FEATURES, seed=1
    ).fit(spx.loc[:"2014"])
    m.net_.double()  # float64 end to end: the engines agree far below 1e-9
    folder = tmp_path_factory.mktemp("var") / "m"
    m.save(folder)
    return m, folder


def _rows(df: pd.DataFrame) -> list[dict[str, float]]:
    return [
        {"adj_close": r.adj_close, "high": r.high, "low": r.low} for r in df.itertuples(index=False)
    ]


def test_predict_is_a_full_forward_pass_and_positive(fitted, spx) -> None:
    m, _ = fitted
    fc = m.predict(spx, start="2015-01-02")
    feats, scaled = model_inputs(m.spec_, spx)
    win = make_windows(feats, None, 8, 1, values=scaled)
    keep = win.index >= pd.Timestamp("2015-01-02")
    direct = np.exp(m.forward_windows(win.X[keep]))
    np.testing.assert_allclose(fc.to_numpy(), direct, rtol=1e-13, atol=0)
    assert (fc > 0).all() and fc.index[0] == pd.Timestamp("2015-01-02")


def test_save_load_numpy_and_torch_give_the_same_forecasts(fitted, spx) -> None:
    m, folder = fitted
    ref = m.predict(spx, start="2015-01-02")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "recurrent_variance" and manifest["target"]["proxy"] == "squared"
    assert manifest["units"] == {"log": True, "percent": True}
    loaded = RecurrentVariance.load(folder, device="cpu")
    assert isinstance(load_model(folder), RecurrentVariance)
    # the same settings, the price column and proxy resolved at fit, the device asked for
    assert loaded.config() == replace(
        m.config(), column="adj_close", device="cpu", train_proxy="parkinson"
    )  # the proxy chosen from the data (High/Low: the range)
    np.testing.assert_allclose(loaded.predict(spx, start="2015-01-02"), ref, rtol=1e-13)
    np_fc = load_numpy(folder).predict(spx, start="2015-01-02")
    assert np_fc.index.equals(ref.index)
    np.testing.assert_allclose(np_fc.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=0)
    with pytest.raises(ModelFileError, match="'recurrent_variance' model, expected 'recurrent'"):
        RecurrentForecaster.load(folder)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_stream_equals_predict(fitted, spx, engine) -> None:
    m, _ = fitted
    out = m.stream(engine).update_many(_rows(spx))
    ref = m.predict(spx).reindex(spx.index[1:]).to_numpy()
    got = out[:-1]  # the forecast after row k is for row k + 1
    assert np.array_equal(np.isnan(got), np.isnan(ref))  # the same warm-up (window + lookback)
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-9, atol=0)


@pytest.mark.parametrize("fmt", ["safetensors", "json"])
def test_stream_state_resumes_exactly_in_another_engine(fitted, spx, fmt) -> None:
    m, folder = fitted
    rows = _rows(spx)
    whole = m.stream("torch").update_many(rows)
    first = m.stream("torch")
    head = first.update_many(rows[:100])
    again = open_stream(folder, engine="numpy").load_state(first.state(fmt))
    tail = again.update_many(rows[100:])
    np.testing.assert_allclose(np.r_[head, tail], whole, rtol=1e-12, atol=0, equal_nan=True)

"""Hybrid variance models served: the frozen classical recursions against ``arch`` and against
themselves tick by tick, a zeroed network that is exactly its base, and save / load / stream /
StreamSet of a hybrid giving its own ``predict`` (on closes only, and with the range)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gatecast.artifacts import manifest_digest
from gatecast.data import load
from gatecast.errors import ModelFileError
from gatecast.inference.classical import by_origin, recursion_from_dict
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent import load_model, open_stream
from gatecast.models.recurrent.variance import RecurrentVariance
from gatecast.serve import StreamSet, load_numpy

TINY = dict(hidden=4, window=5, epochs=2, seed=0, quiet=True, device="cpu")
HYBRID = {"classical_inputs": ("garch", "gjr_t", "har"), "residual": "gjr_t"}  # lstm_hybrid
#: float32 weights run by torch and by NumPy in float64: the forecasts agree to this
RTOL = 1e-5


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2011":"2013-06"]


@pytest.fixture(scope="module")
def closes(spx: pd.DataFrame) -> pd.DataFrame:
    return spx[["adj_close"]]


@pytest.fixture(scope="module")
def hybrid(closes: pd.DataFrame) -> RecurrentVariance:
    return RecurrentVariance(**TINY | HYBRID).fit(closes.iloc[:450])


def _stream_forecasts(stream, rows: pd.DataFrame, mapping: bool = False) -> pd.Series:
    """The forecast after each row, dated with the next row (the day it is for)."""
    out = []
    for day, row in rows.iterrows():
        obs = {k: float(v) for k, v in row.items()} if mapping else float(row.iloc[0])
        out.append(stream.update(obs, at=day))
    return pd.Series(out[:-1], index=rows.index[1:])


@pytest.mark.parametrize(
    "model",
    [
        ArchForecaster("GARCH"),
        ArchForecaster("GARCH", o=1, dist="t"),
        ArchForecaster("EGARCH", o=1, dist="t"),
        HARForecaster(measure="range"),
        HARForecaster(measure="abs"),
    ],
    ids=["garch", "gjr_t", "egarch_t", "har_range", "har_abs"],
)
def test_a_frozen_recursion_is_its_model_in_batch_and_tick_by_tick(spx, model) -> None:
    model.fit(spx.iloc[:400])
    rec = recursion_from_dict(json.loads(json.dumps(model.recursion().to_dict())))  # via JSON
    batch = by_origin(rec, spx, None)
    # the same as the model's own forecasts (arch's recursion, statsmodels' HAR), started
    # on the same first row
    np.testing.assert_allclose(batch, model.forecast_by_origin(spx).reindex(spx.index), rtol=1e-10)
    assert batch.isna().sum() == rec.warmup and batch.iloc[rec.warmup :].notna().all()
    state, ticks = rec.start(), []
    for row in spx[["adj_close", "high", "low"]].itertuples(index=False):
        state, value = rec.step(state, (row.adj_close, row.high, row.low, np.nan))
        ticks.append(value)
    np.testing.assert_allclose(np.array(ticks), batch.to_numpy(), rtol=1e-10)


def test_a_hybrid_with_a_zeroed_network_is_its_base(closes) -> None:
    """log(variance / base) = 0: the model is its residual base, to float rounding (1e-10)."""
    for residual in ("gjr_t", "har"):  # the HAR is the one on |r| here: closes only
        model = RecurrentVariance(**TINY | {"classical_inputs": ("har",), "residual": residual})
        model.fit(closes.iloc[:450])
        with torch.no_grad():
            for p in model.net_.parameters():
                p.zero_()
        fc = model.predict(closes, start=closes.index[460])
        base = model.classical_[residual].predict(closes, start=closes.index[460])
        np.testing.assert_allclose(fc.to_numpy(), base.to_numpy(), rtol=1e-10)
        assert model.har_measures_["har"] == "abs"


def test_a_saved_hybrid_predicts_and_streams_as_it_did(hybrid, closes, tmp_path) -> None:
    folder = hybrid.save(tmp_path / "hybrid")
    manifest = json.loads((folder / "manifest.json").read_text())
    doc = manifest["classical"]
    assert [r["name"] for r in doc["inputs"]] == ["garch", "gjr_t", "har"]
    assert doc["inputs"][2]["measure"] == "abs" and doc["residual"]["name"] == "gjr_t"
    assert manifest["input_size"] == 5 + 3  # the close-only features and three forecasts
    expected = hybrid.predict(closes, start=closes.index[450], future=True)
    torch_model = load_model(folder, device="cpu")
    np.testing.assert_allclose(
        torch_model.predict(closes, start=closes.index[450], future=True), expected, rtol=RTOL
    )
    numpy_model = load_numpy(folder)
    np.testing.assert_allclose(
        numpy_model.predict(closes, start=closes.index[450], future=True), expected, rtol=RTOL
    )
    # a stream from the first row: its classical recursions run on its own history only
    rows = closes.iloc[:600]
    for engine in ("numpy", "torch"):
        got = _stream_forecasts(open_stream(folder, engine), rows)
        want = hybrid.predict(rows)
        np.testing.assert_allclose(got.reindex(want.index), want, rtol=RTOL)
        assert got.loc[: want.index[0]].iloc[:-1].isna().all()  # warming up before that


def test_a_hybrid_stream_state_resumes_where_it_stopped(hybrid, closes, tmp_path) -> None:
    folder = hybrid.save(tmp_path / "hybrid")
    rows = closes.iloc[:560]
    whole = _stream_forecasts(open_stream(folder), rows)
    first = open_stream(folder)
    _stream_forecasts(first, rows.iloc[:500])
    saved = tmp_path / "state.json"
    first.save_state(saved)
    second = open_stream(folder).load_state(saved)
    rest = _stream_forecasts(second, rows.iloc[500:])
    assert rest.notna().all() and len(rest) == 59
    np.testing.assert_allclose(rest, whole.loc[rest.index], rtol=1e-12)
    state = json.loads(saved.read_text())
    kept = state["arrays"]["classical"]["data"]
    # garch and gjr_t (the residual base too): price, variance, forecast; har: price, 22 |r|, forecast
    assert len(kept) == (2 + 1) * 2 + (1 + 22 + 1)
    cut = json.loads(json.dumps(state))
    cut["arrays"]["classical"]["data"] = kept[:-1]
    cut["arrays"]["classical"]["shape"] = [len(kept) - 1]
    saved.write_text(json.dumps(cut))
    with pytest.raises(ModelFileError, match=r"does not fit this model: classical state of shape"):
        open_stream(folder).load_state(saved)
    bad = json.loads(json.dumps(state))
    bad["arrays"]["classical"]["data"][1] = -1.0  # garch's variance
    saved.write_text(json.dumps(bad))
    with pytest.raises(ModelFileError, match=r"the state of 'garch' .* is not one it can reach"):
        open_stream(folder).load_state(saved)


def test_a_range_hybrid_streams_rows_with_high_and_low(spx, tmp_path) -> None:
    model = RecurrentVariance(**TINY | {"classical_inputs": ("har",), "residual": "egarch_t"})
    model.fit(spx.iloc[:450])
    assert model.har_measures_ == {"har": "range"}
    folder = model.save(tmp_path / "ranged")
    rows = spx[["adj_close", "high", "low"]].iloc[:560]
    got = _stream_forecasts(open_stream(folder), rows, mapping=True)
    want = model.predict(spx.iloc[:560])
    np.testing.assert_allclose(got.reindex(want.index), want, rtol=RTOL)


def test_a_streamset_runs_hybrids_like_single_streams(hybrid, closes, tmp_path) -> None:
    folder = hybrid.save(tmp_path / "hybrid")
    rows = closes.iloc[:520]
    single = _stream_forecasts(open_stream(folder), rows)
    market = StreamSet(lambda: load_numpy(folder).stream())
    out: dict[str, list[float]] = {"a": [], "b": []}
    for day, price in rows["adj_close"].items():
        got = market.update_many({"a": float(price), "b": float(price) * 2.0}, at=day)
        for k in out:
            out[k].append(got[k])
    for k in out:  # a price twice as high has the same returns: the same forecasts
        np.testing.assert_allclose(np.array(out[k][:-1]), single.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m["config"].update(classical_inputs=["garch", "gjr_t", "egarch_t"]),
            r"config says classical_inputs=\['garch', 'gjr_t', 'egarch_t'\].* the model reads",
        ),
        (lambda m: m["classical"]["inputs"][0].update(beta="0.9"), "beta '0.9' is not a number"),
        (lambda m: m["classical"]["inputs"][2].update(measure="rv"), "HAR measure 'rv' is unknown"),
        (lambda m: m["classical"]["inputs"].pop(), "input_size=8 but lists 5 features and 2"),
        (lambda m: m["classical"].update(residual={"kind": "arma"}), "not a garch, egarch or har"),
    ],
    ids=["renamed", "text", "measure", "dropped", "kind"],
)
def test_an_edited_classical_part_is_refused_even_resealed(hybrid, tmp_path, edit, message) -> None:
    folder = hybrid.save(tmp_path / "hybrid")
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    manifest["manifest_sha256"] = manifest_digest(manifest)  # a careful forger
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=message):
        load_numpy(folder)

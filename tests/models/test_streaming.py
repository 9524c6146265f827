"""Streaming: tick-by-tick forecasts equal predict (torch and NumPy), states save and resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from gatecast.data import TargetSpec, ar1_prices, load
from gatecast.errors import DataError, ModelFileError
from gatecast.models.recurrent import RecurrentForecaster, open_stream
from gatecast.serve import StreamSet, load_numpy

TINY = dict(hidden=6, layers=2, window=8, epochs=1, chunks=4, chunk_len=16, burn_in=4, seed=0)


@pytest.fixture(scope="module")
def prices():
    return ar1_prices(260, phi=0.8, sigma=0.01, seed=4)


def _fit(prices, **kw):
    m = RecurrentForecaster(**TINY | kw).fit(prices.iloc[:200])
    m.net_.double()  # float64 end to end, so the engines can be compared to 1e-6 and far beyond
    return m


def _aligned(model, prices, out):
    """The stream's forecast after row k is for row k + horizon: line it up with predict."""
    h = model.target.horizon
    ref = model.predict(prices).reindex(prices.index[h:]).to_numpy()
    return out[:-h], ref


@pytest.mark.parametrize("mode", ["sequence", "window"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_stream_equals_predict_torch_and_numpy(prices, mode, cell):
    m = _fit(prices, mode=mode, cell=cell)
    for engine in ("torch", "numpy"):
        got, ref = _aligned(m, prices, m.stream(engine).update_many(prices["close"]))
        assert np.array_equal(np.isnan(got), np.isnan(ref)), engine  # same warm-up
        np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=0, atol=1e-6)
        assert np.nanmax(np.abs(got - ref)) < 1e-12


def test_sequence_stream_equals_the_full_sequence_forward_pass(prices):
    m = _fit(prices, mode="sequence", cell="lstm")
    scaled = m.feature_scaler_.transform(np.diff(np.log(prices["close"].to_numpy()))[:, None])
    raw = m.forward_sequence(scaled)
    out = m.stream("numpy").update_many(prices["close"])
    np.testing.assert_allclose(out[1:], m.target_scaler_.inverse_transform(raw), rtol=0, atol=1e-12)


def test_numpy_model_from_folder_matches_torch(tmp_path, prices):
    m = _fit(prices, mode="sequence", cell="gru")
    m.save(tmp_path / "m")
    np_model = load_numpy(tmp_path / "m")
    np.testing.assert_allclose(
        np_model.predict(prices).to_numpy(), m.predict(prices).to_numpy(), rtol=0, atol=1e-12
    )
    a = np_model.stream().update_many(prices["close"])
    b = open_stream(tmp_path / "m", engine="numpy").update_many(prices["close"])
    np.testing.assert_array_equal(a, b)


def test_stream_from_a_folder_on_the_torch_engine(tmp_path, prices):
    m = _fit(prices, mode="sequence", cell="lstm")
    m.save(tmp_path / "m")
    stream = open_stream(tmp_path / "m", engine="torch")
    got, ref = _aligned(m, prices, stream.update_many(prices["close"]))
    np.testing.assert_allclose(got[1:], ref[1:], rtol=0, atol=1e-12)


def test_multi_feature_rows_and_direction_target():
    df = load("sp500").iloc[-160:]
    m = RecurrentForecaster(
        **TINY
        | dict(
            mode="sequence",
            target=TargetSpec("direction"),
            features=("return", "log_range", "log_volume_change"),
            epochs=1,
        )
    )
    m.fit(df.iloc[:120]).net_.double()
    stream = m.stream("numpy")
    out = np.array([stream.update(row) for _, row in df.iterrows()])  # pandas rows, raw columns
    got, ref = _aligned(m, df, out)
    np.testing.assert_allclose(got[1:], ref[1:], rtol=0, atol=1e-12)
    assert ((ref[1:] > 0) & (ref[1:] < 1)).all()
    with pytest.raises(DataError, match="need more than a price"):
        m.stream("numpy").update(2700.0)


@pytest.mark.parametrize("fmt", ["safetensors", "json"])
@pytest.mark.parametrize("mode", ["sequence", "window"])
def test_state_round_trip_resumes_exactly(prices, fmt, mode):
    m = _fit(prices, mode=mode, cell="lstm")
    closes = prices["close"].to_numpy()
    whole = m.stream("numpy").update_many(closes)
    first = m.stream("numpy")
    first.update_many(closes[:100])
    blob = first.state(fmt)
    for engine in ("numpy", "torch"):  # a state from one engine resumes on the other
        rest = m.stream(engine).load_state(blob).update_many(closes[100:])
        np.testing.assert_allclose(rest, whole[100:], rtol=0, atol=1e-12)


def test_resume_in_a_new_process_numpy_only(tmp_path, prices):
    m = _fit(prices, mode="sequence", cell="lstm")
    m.save(tmp_path / "m")
    closes = prices["close"].to_numpy()
    stream = load_numpy(tmp_path / "m").stream()
    whole = stream.update_many(closes)
    stream.reset()
    stream.update_many(closes[:130])
    stream.save_state(tmp_path / "state.safetensors")
    script = (
        "import json, sys\n"
        "from gatecast.serve import load_numpy\n"
        f"s = load_numpy({str(tmp_path / 'm')!r}).stream()\n"
        f"s.load_state({str(tmp_path / 'state.safetensors')!r})\n"
        "out = [s.update(float(x)) for x in json.loads(sys.stdin.read())]\n"
        "print(json.dumps({'out': out, 'torch': 'torch' in sys.modules}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(closes[130:].tolist()),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    res = json.loads(proc.stdout)
    assert res["torch"] is False  # served with NumPy alone
    np.testing.assert_allclose(res["out"], whole[130:], rtol=0, atol=1e-12)


def test_state_of_another_model_is_refused(prices):
    a = _fit(prices, mode="sequence", cell="gru")
    b = _fit(prices, mode="sequence", cell="gru", seed=1)
    with pytest.raises(ModelFileError, match="another model"):
        b.stream("numpy").load_state(a.stream("numpy").state())
    with pytest.raises(ModelFileError, match="not a readable safetensors stream state"):
        b.stream("numpy").load_state(b"not a state")


def test_bad_observation_raises_and_leaves_the_stream_unchanged(prices):
    m = _fit(prices, mode="sequence", cell="gru")
    closes = prices["close"].to_numpy()
    clean = m.stream("numpy").update_many(closes[:50])
    s = m.stream("numpy")
    for k, p in enumerate(closes[:50]):
        if k == 20:
            for bad, message in (
                (-1.0, "price -1.0 is not positive"),
                (float("nan"), "the price is nan; pass a finite number"),
                ("abc", "observation 'abc' is not a number"),
                ({"volume": 3.0}, r"no price column among \['volume'\]"),
            ):
                with pytest.raises(DataError, match=message):
                    s.update(bad)
        assert s.update(p) == clean[k] or (math.isnan(clean[k]) and k == 0)
    assert s.ticks == 50 and s.valid == 49 and s.ready
    fresh = _fit(prices, mode="window", cell="gru").stream("numpy")
    fresh.update_many(closes[:7])  # 6 returns: two short of the window of 8
    assert not fresh.ready and math.isnan(fresh.update(closes[7]))
    assert fresh.ready and not math.isnan(fresh.update(closes[8]))


def test_stream_set_keeps_one_state_per_instrument(prices):
    m = _fit(prices, mode="sequence", cell="lstm")
    a, b = prices["close"].to_numpy()[:60], prices["close"].to_numpy()[60:120]
    alone = {"A": m.stream("numpy").update_many(a), "B": m.stream("numpy").update_many(b)}
    streams = StreamSet(lambda: m.stream("numpy"))
    got = {"A": [], "B": []}
    for k in range(60):
        for key, value in streams.update_many({"A": a[k], "B": b[k]}).items():
            got[key].append(value)
        if k == 30:  # save every instrument mid-way and continue in a fresh set
            blob = streams.state("json")
            streams = StreamSet(lambda: m.stream("numpy")).load_state(blob)
    assert sorted(streams) == ["A", "B"] and len(streams) == 2
    for key in alone:
        np.testing.assert_allclose(got[key], alone[key], rtol=0, atol=1e-12)


class CountingEngine:
    """An engine that counts the input rows each tick runs through the network."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.rows: list[int] = []

    def step(self, z):
        self.rows.append(1)
        return self.engine.step(z)

    def window(self, Z):
        self.rows.append(len(Z))
        return self.engine.window(Z)

    def __getattr__(self, name):
        return getattr(self.engine, name)


@pytest.mark.parametrize("mode", ["sequence", "window"])
def test_work_per_tick_is_one_step_in_sequence_mode_and_a_window_in_window_mode(prices, mode):
    m = _fit(prices, mode=mode, cell="gru")
    s = m.stream("numpy")
    s.engine = CountingEngine(s.engine)
    closes = prices["close"].to_numpy()
    out = s.update_many(closes)
    forecasts = int(np.sum(~np.isnan(out)))
    assert forecasts == len(closes) - (1 if mode == "sequence" else 8)
    # one network call per forecast; its size does not grow with the ticks already seen
    assert len(s.engine.rows) == forecasts
    assert set(s.engine.rows) == ({1} if mode == "sequence" else {8})
    got, ref = _aligned(m, prices, out)
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=0, atol=1e-12)

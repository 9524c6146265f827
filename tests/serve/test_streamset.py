"""The batched StreamSet: a market of instruments ticked in one step per tick, against one
Stream per instrument; all-or-nothing ticks and loads; joins, leaves, save and resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load as st_load

from gatecast.artifacts import decode_state, encode_state
from gatecast.data import ar1_prices
from gatecast.errors import (
    ConfigError,
    MissingValueError,
    ModelFileError,
    OutlierError,
    ReplayError,
)
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import StreamSet
from gatecast.serve.stream import Stream

TINY = dict(hidden=5, layers=2, window=4, epochs=1, chunks=4, chunk_len=16, burn_in=4, seed=0)
NAMES = ["A", "B", "C", "D", "E"]
DAYS = pd.bdate_range("2022-01-03", periods=60)


def _fit(cell: str, mode: str):
    prices = ar1_prices(120, phi=0.6, sigma=0.01, seed=3)
    m = RecurrentForecaster(cell=cell, mode=mode, **TINY).fit(prices)
    m.net_.double()  # float64 end to end: the set is compared with single streams to 1e-12
    return m


@pytest.fixture(
    scope="module",
    params=[("lstm", "sequence"), ("gru", "sequence"), ("rnn", "sequence"), ("lstm", "window")],
)
def model(request):
    return _fit(*request.param)


@pytest.fixture(scope="module")
def paths() -> dict[str, np.ndarray]:
    """One price path per instrument, each its own level and volatility."""
    return {
        k: ar1_prices(len(DAYS), phi=0.3 * i - 0.5, sigma=0.005 * (i + 1), seed=10 + i)[
            "close"
        ].to_numpy()
        * (i + 1)
        for i, k in enumerate(NAMES)
    }


def _market(model, paths, engine: str = "numpy", fmt_cycle=("json", "safetensors")):
    """Tick a StreamSet and one Stream per instrument through the same market: instruments
    trading on random days, E joining on day 10, C leaving on day 20 and rejoining fresh on
    day 25, and the whole set saved and resumed in a new set every 15 days."""
    rng = np.random.default_rng(7)
    streams = StreamSet(lambda: model.stream(engine))
    alone: dict[str, Stream] = {}
    got, want = [], []
    saves = iter(fmt_cycle * 4)
    for t, day in enumerate(DAYS):
        if t == 20:
            streams.remove("C")
            del alone["C"]
        active = [k for k in NAMES if (k != "E" or t >= 10) and (k != "C" or not 20 <= t < 25)]
        trading = [k for k in active if rng.random() < 0.8]
        tick = {k: float(paths[k][t]) for k in trading}
        out = streams.update_many(tick, at=day)
        assert set(out) == set(tick)
        for k in trading:
            single = alone.setdefault(k, model.stream("numpy"))
            got.append(out[k])
            want.append(single.update(tick[k], at=day))
        if t % 15 == 14:  # save the whole set, resume in a fresh one
            blob = streams.state(next(saves))
            streams = StreamSet(lambda: model.stream(engine)).load_state(blob)
    return streams, alone, np.array(got), np.array(want)


def test_a_market_ticked_in_batches_equals_one_stream_per_instrument(model, paths) -> None:
    streams, alone, got, want = _market(model, paths)
    assert np.isnan(got).sum() == np.isnan(want).sum() < len(got) // 2
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.nanstd(got) > 0  # forecasts that move: the comparison is not of constants
    assert sorted(streams) == NAMES and len(streams) == 5
    for k in NAMES:  # each instrument's counts and last date went through the saves
        assert (streams[k].ticks, streams[k].valid, streams[k].last) == (
            alone[k].ticks,
            alone[k].valid,
            alone[k].last,
        )
        h, c = streams[k].engine.get_state()
        np.testing.assert_allclose(h, alone[k].engine.get_state()[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(c, alone[k].engine.get_state()[1], rtol=0, atol=1e-12)


def test_the_torch_engine_batched_gives_the_numpy_forecasts() -> None:
    m = _fit("lstm", "sequence")
    prices = ar1_prices(len(DAYS), phi=0.2, sigma=0.01, seed=5)["close"].to_numpy()
    paths = {k: prices * (i + 1) for i, k in enumerate(NAMES)}
    _, _, got, want = _market(m, paths, engine="torch", fmt_cycle=("safetensors",))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_one_bad_row_refuses_the_whole_tick(model, paths) -> None:
    streams = StreamSet(lambda: model.stream("numpy"))
    for t in range(8):
        streams.update_many({k: float(paths[k][t]) for k in "ABC"}, at=DAYS[t])
    before = streams.state("json")
    bad_rows = [
        ({"A": paths["A"][8], "B": math.nan, "C": paths["C"][8]}, MissingValueError, "'B'"),
        ({"A": paths["A"][8], "C": paths["C"][8] * 5000}, OutlierError, "'C'.*1000|'C'.*times"),
        ({"A": paths["A"][8], "D": paths["D"][0], "B": "abc"}, Exception, "'B'"),
    ]
    for row, error, where in bad_rows:
        with pytest.raises(error, match=f"instrument {where}"):
            streams.update_many(row, at=DAYS[8])
        assert streams.state("json") == before and "D" not in streams
    with pytest.raises(ReplayError, match=r"instrument 'A'.*repeats.*no instrument of this tick"):
        streams.update_many({"A": paths["A"][7], "B": paths["B"][8]}, at=DAYS[7])
    assert streams.state("json") == before
    # skip: the refused instrument is left as it was and reported; the others tick
    out = streams.update_many(
        {"A": paths["A"][8], "B": math.nan, "C": paths["C"][8], "D": math.inf},
        at=DAYS[8],
        errors="skip",
    )
    assert sorted(out) == ["A", "C"] and sorted(streams.rejected) == ["B", "D"]
    assert isinstance(streams.rejected["B"], MissingValueError) and "D" not in streams
    assert streams["B"].ticks == 8 and streams["A"].ticks == 9
    alone = model.stream("numpy")
    want = [alone.update(float(p), at=d) for p, d in zip(paths["A"][:9], DAYS, strict=False)]
    assert out["A"] == pytest.approx(want[-1], abs=1e-12)
    with pytest.raises(ConfigError, match="errors='ignore' is unknown"):
        streams.update_many({"A": 1.0}, errors="ignore")  # type: ignore[arg-type]


def test_exactly_once_per_instrument_across_a_resume(model, paths) -> None:
    streams = StreamSet(lambda: model.stream("numpy"))
    streams.update_many({"A": paths["A"][0], "B": paths["B"][0]}, at=DAYS[0])
    streams.update_many({"A": paths["A"][1]}, at=DAYS[1])  # B did not trade that day
    back = StreamSet(lambda: model.stream("numpy")).load_state(streams.state())
    with pytest.raises(ReplayError, match=r"instrument 'A': row 2022-01-04 repeats"):
        back.update_many({"A": paths["A"][1], "B": paths["B"][1]}, at=DAYS[1])
    out = back.update_many({"B": paths["B"][1]}, at=DAYS[1])  # B's day 1 is new to B
    assert set(out) == {"B"} and back["B"].last == DAYS[1] and back["A"].last == DAYS[1]
    back.allow_replay = True  # a deliberate replay, for every instrument
    back.update("A", paths["A"][1], DAYS[1])
    assert back["A"].allow_replay and back["A"].ticks == 3 and back["B"].ticks == 2


def test_the_set_state_is_one_array_per_kind(model, paths) -> None:
    streams = StreamSet(lambda: model.stream("numpy"))
    for t in range(6):
        streams.update_many({k: float(paths[k][t]) for k in "ABC"}, at=DAYS[t])
    streams.remove("A")  # C's row moves into A's place
    streams.update("D", paths["D"][0], DAYS[0])
    blob = streams.state()
    arrays = st_load(blob)
    _, meta, _ = decode_state(blob)
    assert [m["key"] for m in meta["streams"]] == ["B", "C", "D"] and meta["layout"] == "stacked"
    L, H = model.layers, model.hidden
    assert arrays["h"].shape == (3, L, H) and arrays["c"].shape == (3, L, H)
    assert arrays["history"].shape[0] == 3 and arrays["buffer"].shape[0] == 3
    for i, k in enumerate(["B", "C", "D"]):
        np.testing.assert_array_equal(arrays["h"][i], streams[k].engine.get_state()[0])
    assert [m["ticks"] for m in meta["streams"]] == [6, 6, 1]
    if model.mode == "sequence":
        assert np.abs(arrays["h"][1]).max() > 0 and not arrays["h"][2].any()  # D is fresh
    with pytest.raises(KeyError, match="'A' is not in this StreamSet"):
        streams.remove("A")


def test_a_tampered_set_loads_nothing(model, paths) -> None:
    streams = StreamSet(lambda: model.stream("numpy"))
    for t in range(6):
        streams.update_many({k: float(paths[k][t]) for k in "AB"}, at=DAYS[t])
    doc = json.loads(streams.state("json"))
    keep = StreamSet(lambda: model.stream("numpy"))
    keep.update("A", paths["A"][0], DAYS[0])
    before = keep.state("json")
    arrays, meta, _ = decode_state(json.dumps(doc))
    arrays["h"][1, 0, 0] = 3.0  # B's hidden state, outside [-1, 1]
    with pytest.raises(ModelFileError, match=r"\[B\] holds a hidden state outside \[-1, 1\]"):
        keep.load_state(encode_state(arrays, meta, "safetensors"))
    assert keep.state("json") == before and "B" not in keep  # A was not overwritten either
    arrays["h"] = arrays["h"][:1]
    with pytest.raises(ModelFileError, match=r"do not hold one row per stream \(2\)"):
        keep.load_state(encode_state(arrays, meta, "safetensors"))


def test_a_version_3_set_of_separate_arrays_still_loads(model, paths) -> None:
    alone = {k: model.stream("numpy") for k in "AB"}
    arrays, metas = {}, []
    for i, (k, s) in enumerate(alone.items()):
        s.update_many(paths[k][:7])
        a, m = s._state_parts()
        arrays.update({f"{i}.{name}": v for name, v in a.items()})
        metas.append(m | {"key": k})
    blob = encode_state(arrays, {"format": "gatecast-stream-set", "version": 3, "streams": metas})
    streams = StreamSet(lambda: model.stream("numpy")).load_state(blob)
    out = streams.update_many({k: float(paths[k][7]) for k in "AB"})
    for k in "AB":
        assert out[k] == pytest.approx(alone[k].update(float(paths[k][7])), abs=1e-12)


def test_an_engine_without_batches_is_refused() -> None:
    class Bare:
        engine = object()

    with pytest.raises(ConfigError, match="needs an engine with step_many"):
        StreamSet(lambda: Bare()).add("A")  # type: ignore[arg-type, return-value]


@pytest.mark.slow
def test_the_numba_backend_chosen_by_the_environment_serves_the_same_forecasts(
    paths, monkeypatch
) -> None:
    m = _fit("gru", "sequence")
    ref = m.stream("numpy").update_many(paths["A"][:30])
    monkeypatch.setenv("GATECAST_STEPPER", "numba")
    fast = m.stream("numpy")
    assert fast.engine.stepper.backend == "numba"
    np.testing.assert_allclose(fast.update_many(paths["A"][:30]), ref, rtol=0, atol=1e-12)
    monkeypatch.setenv("GATECAST_STEPPER", "gpu")
    with pytest.raises(ConfigError, match="backend 'gpu' is unknown"):
        m.stream("numpy")


def test_a_direction_model_gives_the_single_streams_probabilities(paths) -> None:
    # output "logit": the head's output goes through each stream's own conversion
    prices = ar1_prices(120, phi=0.6, sigma=0.01, seed=3)
    m = RecurrentForecaster(cell="lstm", mode="sequence", target="direction", **TINY).fit(prices)
    m.net_.double()
    assert m._fitted().output == "logit"
    _, _, got, want = _market(m, paths, fmt_cycle=("json",))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.nanmin(got) > 0 and np.nanmax(got) < 1  # probabilities, not raw logits

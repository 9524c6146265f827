"""Stream states: what a saved state holds, version-1 states, each malformed state refused with
its own message, and the StreamSet of several instruments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load as st_load

from gatecast.artifacts import decode_state, encode_state
from gatecast.data import ar1_prices
from gatecast.errors import ModelFileError
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import StreamSet
from gatecast.serve.stream import STATE_VERSION

TINY = dict(hidden=3, layers=2, window=5, epochs=1, chunks=4, chunk_len=16, burn_in=4, seed=0)


@pytest.fixture(scope="module")
def closes() -> np.ndarray:
    return ar1_prices(140, phi=0.6, sigma=0.01, seed=9)["close"].to_numpy()


@pytest.fixture(scope="module", params=["sequence", "window"])
def model(request, closes):
    prices = ar1_prices(140, phi=0.6, sigma=0.01, seed=9)
    m = RecurrentForecaster(cell="lstm", mode=request.param, **TINY).fit(prices.iloc[:100])
    m.net_.double()
    return m


def test_a_saved_state_holds_the_stream_and_the_model_fingerprint(model, closes, tmp_path) -> None:
    s = model.stream("numpy")
    s.update_many(closes[:30])
    path = s.save_state(tmp_path / "s.json")
    assert path == tmp_path / "s.json"
    doc = json.loads(path.read_text())
    assert {k: doc[k] for k in ("format", "version", "mode", "cell", "ticks", "valid")} == {
        "format": "gatecast-stream",
        "version": STATE_VERSION,
        "mode": model.mode,
        "cell": "lstm",
        "ticks": 30,
        "valid": 29,  # the first price has no return
    }
    assert doc["fingerprint"] == s.fingerprint and len(s.fingerprint) == 64
    assert doc["arrays"]["h"]["shape"] == [2, 3] and doc["arrays"]["c"]["shape"] == [2, 3]
    buffer_rows = 0 if model.mode == "sequence" else 5
    assert doc["arrays"]["buffer"]["shape"] == [buffer_rows, 1]
    arrays, meta, _ = decode_state(path)
    h, c = s.engine.get_state()
    np.testing.assert_array_equal(arrays["h"], h)
    np.testing.assert_array_equal(arrays["c"], c)
    np.testing.assert_array_equal(arrays["history"], s.online.state())
    binary = s.save_state(tmp_path / "s.state")  # any other suffix: safetensors
    assert set(st_load(binary.read_bytes())) == {"h", "c", "buffer", "history"}
    assert decode_state(binary)[1] == meta
    assert not list(tmp_path.glob("*.tmp"))
    # restored into a fresh stream: the same counters, the same next forecasts
    again = model.stream("numpy").load_state(binary)
    assert (again.ticks, again.valid, again.ready) == (30, 29, s.ready)
    np.testing.assert_array_equal(again.update_many(closes[30:]), s.update_many(closes[30:]))


def test_a_version_1_state_resumes_the_same(model, closes) -> None:
    """Version 1 kept only the previous price and volume: the whole history of a model whose
    features look one row back (``return``)."""
    s = model.stream("numpy")
    s.update_many(closes[:40])
    arrays, meta = s._state_parts()
    v1 = {k: arrays[k] for k in ("h", "c", "buffer")} | {"previous": np.array([closes[39], np.nan])}
    blob = encode_state(v1, meta | {"version": 1}, "json")
    old = model.stream("numpy").load_state(blob)
    kept = old.online.state()  # the previous price is the last row of the history
    assert kept[-1, 0] == closes[39] and np.isnan(kept[:-1]).all()
    np.testing.assert_allclose(old.update_many(closes[40:]), s.update_many(closes[40:]), atol=0)
    # a version-1 state saved before the first price: nothing to carry
    empty = encode_state(v1 | {"previous": np.array([np.nan, np.nan])}, meta | {"version": 1})
    fresh = model.stream("numpy").load_state(empty)
    assert np.isnan(fresh.online.state()).all()


def _state_with(model, closes, change) -> bytes | str:
    s = model.stream("numpy")
    s.update_many(closes[:20])
    arrays, meta = s._state_parts()
    arrays = {k: np.array(v, copy=True) for k, v in arrays.items()}
    meta = dict(meta)
    change(arrays, meta)
    return encode_state(arrays, meta, "json")


FAULTS = [
    ("format", lambda a, m: m.update(format="other"), "is not a gatecast stream state"),
    (
        "version",
        lambda a, m: m.update(version=STATE_VERSION + 1),
        rf"is not a gatecast stream state \(version {STATE_VERSION}\)",
    ),
    ("fingerprint", lambda a, m: m.update(fingerprint="0" * 64), "saved from another model"),
    ("no h", lambda a, m: a.pop("h"), r"is malformed \(KeyError"),
    ("no ticks", lambda a, m: m.pop("ticks"), r"is malformed \(KeyError"),
    ("ticks", lambda a, m: m.update(ticks="many"), r"is malformed \(ValueError"),
    ("h shape", lambda a, m: a.update(h=np.zeros((1, 3))), "wrong shapes for this model"),
    ("c shape", lambda a, m: a.update(c=np.zeros((2, 4))), "wrong shapes for this model"),
    ("buffer", lambda a, m: a.update(buffer=np.zeros((9, 1))), "wrong shapes for this model"),
    ("history", lambda a, m: a.update(history=np.zeros((7, 4))), "history has the wrong shape"),
    ("negative", lambda a, m: m.update(ticks=-1), r"malformed \(ValueError: count -1 is negative"),
    ("fraction", lambda a, m: m.update(ticks=2.5), r"\(ValueError: 2\.5 is not a count\)"),
    ("bool", lambda a, m: m.update(valid=True), r"\(ValueError: True is not a count\)"),
    ("valid", lambda a, m: m.update(valid=25), "valid=25 rows out of ticks=20 is impossible"),
    ("nan h", lambda a, m: a.update(h=np.full((2, 3), np.nan)), "holds NaN/inf in its recurrent"),
    ("inf c", lambda a, m: a.update(c=np.full((2, 3), np.inf)), "holds NaN/inf in its recurrent"),
    ("price", lambda a, m: a["history"].__setitem__((-1, 0), -5.0), "an observation no stream"),
    ("zero", lambda a, m: a["history"].__setitem__((-1, 0), 0.0), "an observation no stream"),
    ("seq", lambda a, m: m.update(last={"seq": True}), "last sequence number True is not a whole"),
    ("seq2", lambda a, m: m.update(last={"seq": 2.5}), "last sequence number 2.5 is not a whole"),
    ("seq3", lambda a, m: m.update(last={"seq": -1}), "sequence number -1 is negative"),
    ("date", lambda a, m: m.update(last={"date": 5}), "last date 5 is not a date"),
    ("date2", lambda a, m: m.update(last={"date": "x"}), "date 'x' is not a date; use ISO"),
    ("last", lambda a, m: m.update(last={"a": 1}), r"last=\{'a': 1\} is neither"),
    ("both", lambda a, m: m.update(last={"seq": 1, "date": "2021-01-04"}), "is neither"),
    ("text", lambda a, m: m.update(last="2021"), r"last='2021' is neither \{'date'"),
    ("h > 1", lambda a, m: a.update(h=np.full((2, 3), 1.5)), r"hidden state outside \[-1, 1\]"),
]


@pytest.mark.parametrize("change, message", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_malformed_state_is_refused_and_leaves_the_stream_as_it_was(
    model, closes, change, message
) -> None:
    blob = _state_with(model, closes, change)
    s = model.stream("numpy")
    s.update_many(closes[:10])
    before = s.state("json")
    with pytest.raises(ModelFileError, match=message):
        s.load_state(blob)
    assert s.state("json") == before


def test_a_bad_row_after_the_empty_start_of_the_history_is_refused(
    model, closes, tmp_path: Path
) -> None:
    s = model.stream("numpy")
    s.update(closes[0])  # one price: the history's first row is still empty (all NaN)
    arrays, meta = s._state_parts()
    assert np.isnan(arrays["history"][0]).all()
    arrays["history"][-1, 0] = -5.0
    with pytest.raises(ModelFileError, match="holds an observation no stream accepts"):
        model.stream("numpy").load_state(encode_state(arrays, meta, "json"))
    bad = tmp_path / "bad.state.json"  # from a file, the message names the file
    bad.write_text(encode_state(arrays, meta, "json"))
    with pytest.raises(ModelFileError, match=r"bad\.state\.json holds an observation no stream"):
        model.stream("numpy").load_state(bad)


def test_a_sequence_state_before_any_valid_row_starts_from_zero(closes) -> None:
    prices = ar1_prices(140, phi=0.6, sigma=0.01, seed=9)
    m = RecurrentForecaster(cell="gru", mode="sequence", **TINY).fit(prices.iloc[:100])
    blob = _state_with(m, closes, lambda a, meta: meta.update(valid=0, ticks=0))
    s = m.stream("numpy").load_state(blob)
    h, _ = s.engine.get_state()
    assert not h.any() and s.valid == 0


def test_reset_forgets_everything(model, closes) -> None:
    s = model.stream("numpy")
    first = s.update_many(closes[:25])
    s.reset()
    assert (s.ticks, s.valid) == (0, 0) and not s.ready and math.isnan(s.update(closes[0]))
    np.testing.assert_array_equal(s.update_many(closes[1:25]), first[1:])


def test_stream_set_keeps_states_by_instrument(model, closes, tmp_path: Path) -> None:
    streams = StreamSet(lambda: model.stream("numpy"))
    assert len(streams) == 0 and "A" not in streams
    a = [streams.update("A", p) for p in closes[:30]]
    got = streams.update_many({"B": closes[0], "A": closes[30]})
    assert set(got) == {"A", "B"} and math.isnan(got["B"])
    assert sorted(streams) == ["A", "B"] and "A" in streams and len(streams) == 2
    alone = model.stream("numpy")
    np.testing.assert_array_equal(alone.update_many(closes[:31]), [*a, got["A"]])
    for fmt in ("json", "safetensors"):
        blob = streams.state(fmt)
        keep = StreamSet(lambda: model.stream("numpy"))
        keep.update("C", closes[0])
        back = keep.load_state(blob)
        assert back is keep and sorted(back) == ["A", "B", "C"]  # C is kept
        assert back["A"].ticks == 31 and back["B"].ticks == 1
        assert back["A"].update(closes[31]) == alone.update(closes[31])
        alone = model.stream("numpy")
        alone.update_many(closes[:31])
    streams.reset("A")
    assert streams["A"].ticks == 0 and streams["B"].ticks == 1
    streams.reset()
    assert streams["B"].ticks == 0
    with pytest.raises(ModelFileError, match=r"is not a StreamSet state; use Stream\.load_state"):
        StreamSet(lambda: model.stream("numpy")).load_state(model.stream("numpy").state())


def test_stream_set_state_format_and_malformed_sets(model, closes) -> None:
    streams = StreamSet(lambda: model.stream("numpy"))
    streams.update_many({"A": closes[0], "B": closes[0]})
    text = streams.state("json")
    assert isinstance(text, str) and isinstance(streams.state(), bytes)
    doc = json.loads(text)
    assert doc["format"] == "gatecast-stream-set" and doc["version"] == STATE_VERSION
    assert [m["key"] for m in doc["streams"]] == ["A", "B"]
    for streams_value in ("A", [{"key": 1}], [{"ticks": 1}], ["A"]):
        bad = json.dumps(doc | {"streams": streams_value})
        with pytest.raises(ModelFileError, match="malformed: its streams are not a list of keyed"):
            StreamSet(lambda: model.stream("numpy")).load_state(bad)
    doc["streams"][1]["fingerprint"] = "0" * 64
    with pytest.raises(ModelFileError, match=r"the state \[B\] was saved from another model"):
        StreamSet(lambda: model.stream("numpy")).load_state(json.dumps(doc))


def test_dated_rows_must_come_in_order_and_the_state_keeps_the_last(model, closes) -> None:
    from gatecast.errors import ReplayError

    dates = pd.bdate_range("2021-03-01", periods=20)
    s = model.stream("numpy")
    ref = model.stream("numpy").update_many(closes[:20])
    got = [s.update(p, at=d) for p, d in zip(closes[:10], dates[:10], strict=True)]
    np.testing.assert_array_equal(got, ref[:10])
    before = s.state("json")
    with pytest.raises(
        ReplayError, match=r"^row 2021-03-12 repeats the last row consumed \(2021-03-12\)"
    ):
        s.update(closes[10], at=dates[9])
    with pytest.raises(ReplayError, match=r"^row 2021-03-01 comes before the last row consumed"):
        s.update({"close": closes[10], "Date": "2021-03-01"})
    message = r"^row #11 is not ordered like the rows consumed so far \(up to 2021-03-12\): one"
    with pytest.raises(ReplayError, match=message):
        s.update(closes[10], at=11)
    assert s.state("json") == before  # every refusal left the stream as it was
    restored = model.stream("numpy").load_state(before)
    assert restored.update({"close": closes[10], "date": "2021-03-15"}) == ref[10]
    with pytest.raises(ReplayError, match="repeats the last row"):
        restored.update(closes[11], at="2021-03-15")
    restored.allow_replay = True  # on purpose
    restored.update(closes[11], at="2021-03-15")
    # rows counted by sequence number
    q = model.stream("numpy")
    q.update_many([{"close": p, "seq": k} for k, p in enumerate(closes[:5])])
    with pytest.raises(ReplayError, match=r"^row #4 repeats the last row consumed \(#4\)"):
        q.update({"close": closes[5], "seq": 4})
    # a row without a date of its own takes the one given with it
    r = model.stream("numpy")
    r.update({"close": closes[0]}, at="2021-03-01")
    with pytest.raises(ReplayError, match=r"^row 2021-03-01 repeats the last row consumed"):
        r.update({"close": closes[1]}, at="2021-03-01")
    # intraday rows are shown with their time
    t = model.stream("numpy")
    t.update(closes[0], at=pd.Timestamp("2021-03-12 15:30"))
    at = r"2021-03-12T15:30:00"
    with pytest.raises(ReplayError, match=rf"^row {at} repeats the last row consumed \({at}\)"):
        t.update(closes[1], at=pd.Timestamp("2021-03-12 15:30"))


def test_counts_written_as_floats_and_the_last_row_are_restored(model, closes) -> None:
    from gatecast.errors import ReplayError

    def change(arrays, meta):
        meta.update(ticks=20.0, valid=19.0, last={"seq": 5})

    s = model.stream("numpy").load_state(_state_with(model, closes, change))
    assert (s.ticks, s.valid) == (20, 19) and isinstance(s.ticks, int)
    with pytest.raises(ReplayError, match=r"row #5 repeats the last row consumed \(#5\)"):
        s.update({"close": closes[20], "seq": 5})
    assert json.loads(s.state("json"))["last"] == {"seq": 5}
    s.update({"close": closes[20], "seq": 6})
    assert json.loads(s.state("json"))["last"] == {"seq": 6} and s.ticks == 21
    dated = model.stream("numpy").load_state(
        _state_with(model, closes, lambda a, m: m.update(last={"date": "2021-01-04T00:00:00"}))
    )
    with pytest.raises(ReplayError, match=r"row 2021-01-04 repeats the last row consumed"):
        dated.update(closes[20], at="2021-01-04")


def test_a_price_a_thousand_times_off_is_refused_and_the_stream_unchanged(model, closes) -> None:
    import sys

    from gatecast.errors import NonPositivePriceError, OutlierError

    s = model.stream("numpy")
    s.update_many(closes[:5])
    p = closes[4]
    before = s.state("json")
    for x, message in (
        (
            p * 1000.5,
            f"^price {p * 1000.5:g} is 1e\\+03 times the previous one \\({p:g}\\): a typo or a "
            "unit change\\? the stream is unchanged$",
        ),
        (p / 1000.5, f"^price {p / 1000.5:g} is 0.001 times the previous one"),
        (1e-310, "^price 1e-310 is too small to be a price; the stream is unchanged$"),
    ):
        with pytest.raises(OutlierError, match=message):
            s.update(x)
        assert s.state("json") == before
    with pytest.raises(OutlierError, match=r"times the previous one"):
        s.update(sys.float_info.min)  # the smallest normal float is a number, not a price
    with pytest.raises(NonPositivePriceError, match=r"^price 0\.0 is not positive"):
        s.update(0.0)
    assert s.state("json") == before
    assert np.isfinite(s.update(p / 700))  # 1/700 of the last price: wild, but allowed
    small = model.stream("numpy")  # prices below 1 are checked the same way
    small.update_many([0.5, 0.51])
    with pytest.raises(OutlierError, match="times the previous one"):
        small.update(600.0)
    # a thousand times exactly is a (wild) price, and the next one is judged against it
    assert np.isfinite(s.update(p / 700 * 1000)) and np.isfinite(s.update(p / 700 * 1000 * 999))


def test_the_edges_a_stream_can_reach_are_accepted(model, closes) -> None:
    s = model.stream("numpy")
    s.update_many([1000.0, 1.0, 1000.0])  # a thousandth, then a thousand times: both allowed
    assert (s.ticks, s.online.state()[-1, 0]) == (3, 1000.0)

    def saturated(a: dict, m: dict) -> None:
        a["h"][0, 0], a["h"][1, 2] = 1.0, -1.0  # tanh(20.0) == 1.0 in float64
        a["history"][-1, 0] = 0.5  # a price below 1

    again = model.stream("numpy").load_state(_state_with(model, closes, saturated))
    h, _ = again.engine.get_state()
    assert (h[0, 0], h[1, 2], again.online.state()[-1, 0]) == (1.0, -1.0, 0.5)


@pytest.fixture(scope="module")
def volume_model():
    from gatecast.data import load

    df = load("sp500").iloc[-200:]
    features = ("return", "log_volume_change")
    m = RecurrentForecaster(cell="gru", mode="sequence", features=features, **TINY)
    return m.fit(df.iloc[:150]), [dict(close=r.close, volume=r.volume) for r in df.itertuples()]


def test_a_non_finite_feature_after_the_warm_up_is_refused(volume_model) -> None:
    from gatecast.errors import MissingValueError

    m, rows = volume_model
    s = m.stream("numpy")
    s.update(rows[0])
    warm = s.update(rows[1] | {"volume": 0.0})  # still warming up: taken, no forecast
    assert math.isnan(warm) and s.valid == 0
    s.reset()
    s.update_many(rows[:2])
    assert s.valid == 1
    before = s.state("json")
    message = (
        r"^feature\(s\) \['log_volume_change'\] are NaN/inf at tick 3 \(after 1 valid rows\); "
        r"check the observation \{'close': [\d.]+, 'volume': 0.0\}: the stream is unchanged$"
    )
    with pytest.raises(MissingValueError, match=message):
        s.update(rows[2] | {"volume": 0.0})
    assert s.state("json") == before
    row = pd.Series(rows[2] | {"date": "2020-01-02"})  # a pandas row carries its date
    s.update(row)
    assert json.loads(s.state("json"))["last"] == {"date": "2020-01-02T00:00:00"}


def test_a_version_2_state_has_no_last_row_and_still_loads(model, closes) -> None:
    def as_v2(arrays, meta):
        meta.update(version=2)
        meta.pop("last")

    s = model.stream("numpy").load_state(_state_with(model, closes, as_v2))
    assert s.ticks == 20 and s.last is None
    ref = model.stream("numpy").update_many(closes[:22])
    assert s.update(closes[20]) == ref[20]


def test_an_anchored_price_stream_moves_from_the_last_price(closes) -> None:
    prices = ar1_prices(140, phi=0.6, sigma=0.01, seed=9)
    m = RecurrentForecaster(cell="gru", mode="sequence", target="price", **TINY)
    m.fit(prices.iloc[:100]).net_.double()
    out = m.stream("numpy").update_many(closes)
    ref = m.predict(prices).reindex(prices.index[1:]).to_numpy()
    np.testing.assert_allclose(out[1:-1], ref[1:], rtol=1e-9)
    assert np.all(np.abs(out[1:] / closes[1:] - 1) < 0.2)  # a price near the last one

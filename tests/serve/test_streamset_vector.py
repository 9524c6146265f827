"""The vectorised tick of a StreamSet (``_vector_tick``): the same forecasts, states and errors as
the general path, instrument by instrument, on a market of many instruments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatecast.artifacts import decode_state
from gatecast.data import ar1_prices
from gatecast.data.features import TargetSpec
from gatecast.errors import MissingValueError, NonPositivePriceError, OutlierError, ReplayError
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import StreamSet
from gatecast.serve.streamset import VECTOR_FEATURES

TINY = dict(hidden=5, layers=2, window=4, epochs=1, chunks=4, chunk_len=16, burn_in=4, seed=0)
N = 24  # instruments
DAYS = pd.bdate_range("2022-01-03", periods=30)


def _fit(cell: str = "lstm", **kw: Any) -> RecurrentForecaster:
    prices = ar1_prices(120, phi=0.6, sigma=0.01, seed=3)
    m = RecurrentForecaster(cell=cell, mode="sequence", **(TINY | kw)).fit(prices)
    m.net_.double()  # float64: the two paths are compared to 1e-12
    return m


@pytest.fixture(scope="module")
def prices() -> np.ndarray:
    """(days, instruments) price paths, each its own level and volatility."""
    rng = np.random.default_rng(5)
    moves = rng.normal(0, 0.01, size=(len(DAYS), N)) * np.linspace(0.5, 2.0, N)
    return 10.0 * np.arange(1, N + 1) * np.exp(np.cumsum(moves, axis=0))


def _pair(model: RecurrentForecaster) -> tuple[StreamSet, StreamSet, list[bool]]:
    """A set that always takes the general path, and one that tries the vectorised tick on
    every tick of 2 or more instruments (with a record of whether it ran)."""
    general = StreamSet(model.stream)
    general.vector_min = 10**9
    fast = StreamSet(model.stream)
    fast.vector_min = 2
    ran: list[bool] = []
    inner = fast._vector_tick

    def recorded(observations: Any, at: Any) -> Any:
        out = inner(observations, at)
        ran.append(out is not None)
        return out

    fast._vector_tick = recorded  # type: ignore[method-assign]
    return general, fast, ran


def _warmed(prices: np.ndarray) -> tuple[StreamSet, StreamSet, list[bool]]:
    """The pair of sets of a return model after every instrument traded on the first 5 days."""
    general, fast, ran = _pair(_fit())
    for t, day in enumerate(DAYS[:5]):
        tick = {f"I{k}": float(prices[t, k]) for k in range(N)}
        for s in (general, fast):
            s.update_many(tick, at=day)
    return general, fast, ran


def _same_saved_state(a: StreamSet, b: StreamSet) -> None:
    """The two sets' saved states hold the same instruments, counts, dates and history exactly,
    and recurrent states within 1e-12: the vectorised tick's batched matrix product and the
    general path's per-row one round differently on some CPUs (AVX-512 BLAS kernels), so their
    bytes may differ in the last bits; the same path saved twice is compared byte for byte
    elsewhere (test_stream_state.py)."""
    arrays_a, meta_a, _ = decode_state(a.state())
    arrays_b, meta_b, _ = decode_state(b.state())
    assert meta_a == meta_b
    assert set(arrays_a) == set(arrays_b)
    for name, x in arrays_a.items():
        if name in ("h", "c", "buffer"):  # computed (features by np.log on arrays or scalars)
            np.testing.assert_allclose(arrays_b[name], x, rtol=0, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(arrays_b[name], x, err_msg=name)


def _same_state(a: StreamSet, b: StreamSet) -> None:
    assert list(a.streams) == list(b.streams)
    for key, s in a.streams.items():
        t = b.streams[key]
        assert (s.ticks, s.valid, s.last) == (t.ticks, t.valid, t.last), key
        np.testing.assert_array_equal(s.online.state(), t.online.state())
        ha, ca = s.engine.get_state()
        hb, cb = t.engine.get_state()
        np.testing.assert_allclose(ha, hb, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ca, cb, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {},  # a return model on returns
        {"cell": "gru", "features": ("return", "abs_return", "squared_return")},
        {"features": ("return", "price")},
        {"target": "price"},  # anchored: each forecast moves from its own last price
        {"target": "direction"},
        {"target": TargetSpec("return", log=False)},  # simple returns in and out
    ],
    ids=["return", "gru-three-features", "with-price", "anchored-price", "direction", "simple"],
)
def test_a_market_gets_the_general_paths_forecasts_and_states(
    kw: dict[str, Any], prices: np.ndarray
) -> None:
    model = _fit(**kw)
    if "target" in kw and isinstance(kw["target"], TargetSpec):
        assert model._fitted().units.log is False
    general, fast, ran = _pair(model)
    rng = np.random.default_rng(11)
    for t, day in enumerate(DAYS):
        trading = [k for k in range(N) if t < 3 or rng.random() < 0.85]  # all trade at first
        if t == 15:  # an instrument joins: that tick takes the general path
            trading.append(N)
        tick = {f"I{k}": float(prices[t, k % N] * (1.1 if k == N else 1.0)) for k in trading}
        a = general.update_many(tick, at=day)
        b = fast.update_many(tick, at=day)
        assert list(a) == list(b)
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    _same_state(general, fast)
    # the first two ticks warm up (no return yet), the joining tick and the newcomer's next one
    # go the general way; every other tick ran in arrays
    assert ran[:2] == [False, False] and not ran[15]
    assert sum(ran) >= len(DAYS) - 5
    _same_saved_state(general, fast)


def test_the_float32_engine_gives_the_same_numbers_both_ways(prices: np.ndarray) -> None:
    from gatecast.inference import NumpyEngine
    from gatecast.models.recurrent.base import weights_of
    from gatecast.serve import Stream

    model = _fit()
    spec, tensors = model._fitted(), weights_of(model.net_)
    sets = []
    for vector_min in (10**9, 2):
        s = StreamSet(lambda: Stream.over(spec, NumpyEngine(spec, tensors, np.float32), tensors))
        s.vector_min = vector_min
        sets.append(s)
    for t, day in enumerate(DAYS[:8]):
        tick = {f"I{k}": float(prices[t, k]) for k in range(N)}
        a, b = (s.update_many(tick, at=day) for s in sets)
        # float32 rounding of a batched vs a per-row product: a few units in the last place
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ({"I3": 1e6}, OutlierError, "instrument 'I3': price 1e\\+06 is"),
        ({"I4": 1e-3}, OutlierError, "instrument 'I4': price 0.001 is"),  # a 1000x fall
        ({"I5": float("nan")}, MissingValueError, "instrument 'I5': the price is nan"),
        ({"I7": -4.0}, NonPositivePriceError, "instrument 'I7': price -4.0 is not positive"),
    ],
)
def test_a_refused_row_raises_the_general_paths_error_and_changes_nothing(
    bad: dict[str, float], error: type[Exception], match: str, prices: np.ndarray
) -> None:
    general, fast, ran = _warmed(prices)
    before = fast.state()
    tick = {f"I{k}": float(prices[5, k]) for k in range(N)} | bad
    for s in (general, fast):
        with pytest.raises(error, match=match):
            s.update_many(tick, at=DAYS[5])
    assert ran[-1] is False  # the vectorised tick declined, the general path raised
    assert fast.state() == before
    # skipping refuses the same instrument and ticks the others exactly as the general path
    a = general.update_many(tick, at=DAYS[5], errors="skip")
    b = fast.update_many(tick, at=DAYS[5], errors="skip")
    assert set(general.rejected) == set(fast.rejected) == set(bad)
    np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    _same_state(general, fast)


def test_a_replayed_or_earlier_date_is_refused_as_the_general_path_refuses_it(
    prices: np.ndarray,
) -> None:
    general, fast, ran = _warmed(prices)
    before = fast.state()
    tick = {f"I{k}": float(prices[5, k]) for k in range(N)}
    for day, match in ((DAYS[4], "repeats"), (DAYS[2], "comes before"), (7, "not ordered")):
        for s in (general, fast):
            with pytest.raises(ReplayError, match=match):
                s.update_many(tick, at=day)
    assert fast.state() == before
    fast.allow_replay = general.allow_replay = True  # a deliberate replay ticks both alike
    a, b = (s.update_many(tick, at=DAYS[4]) for s in (general, fast))
    assert ran[-1] is True
    np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)


def test_models_the_arrays_cannot_compute_take_the_general_path() -> None:
    model = _fit(features=("return", "log_rv5"))  # a 5-day rolling feature
    assert not set(model._fitted().features) <= VECTOR_FEATURES
    _, fast, ran = _pair(model)
    for t, day in enumerate(DAYS[:8]):
        fast.update_many({f"I{k}": 100.0 + t + k for k in range(4)}, at=day)
    assert ran == [False] * 8
    window = RecurrentForecaster(mode="window", **TINY).fit(ar1_prices(120, seed=3))
    _, fast, ran = _pair(window)
    for t, day in enumerate(DAYS[:6]):
        fast.update_many({f"I{k}": 100.0 + t + k for k in range(4)}, at=day)
    assert ran == [False] * 6


def test_instruments_touched_between_vector_ticks_keep_their_own_history(
    prices: np.ndarray,
) -> None:
    """The columns hold each instrument's last prices after a vectorised tick; a general tick of
    one instrument, a reset, a removal, a per-instrument replay switch or a read of its history
    in between must leave both paths with the same numbers."""
    general, fast, ran = _warmed(prices)
    for s in (general, fast):
        s["I3"].update(float(prices[5, 3]), at=DAYS[5])  # one instrument ticks alone
        s.reset("I4")
        s.remove("I5")
        s["I6"].allow_replay = True
    assert len(fast["I2"].online.history) == 2  # read back from the columns
    for t in range(5, 12):
        tick = {f"I{k}": float(prices[t, k]) for k in range(N) if k not in (3, 4) or t > 5}
        if t == 8:  # I6 alone may replay the previous day
            for s in (general, fast):
                s["I6"].update(float(prices[t, 6]), at=DAYS[t - 2])
        a, b = (s.update_many(tick, at=DAYS[t]) for s in (general, fast))
        assert list(a) == list(b)
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    _same_state(general, fast)
    _same_saved_state(general, fast)
    assert "I5" in fast  # rejoined on its first tick after leaving
    assert sum(ran[-7:]) >= 4  # most of these ticks still ran in arrays


@pytest.mark.parametrize(
    "at",
    [pd.Timestamp("9999-12-20"), 2**63 + 5],
    ids=["date-past-2262", "sequence-past-int64"],
)
def test_order_keys_the_columns_cannot_hold_go_the_general_way(at: Any, prices: np.ndarray) -> None:
    general, fast, ran = _pair(_fit())
    step = pd.Timedelta(days=1) if isinstance(at, pd.Timestamp) else 1
    for s in (general, fast):  # dates this far ahead are refused by the clock unless allowed
        s.max_ahead = None
    for t in range(4):  # warmed up from the third tick: arrays would run, but for the key
        tick = {f"I{k}": float(prices[t, k]) for k in range(N)}
        a, b = (s.update_many(tick, at=at + t * step) for s in (general, fast))
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    assert not any(ran)
    for s in (general, fast):  # the last key again: a replay, both ways
        with pytest.raises(ReplayError, match="repeats"):
            s.update_many(tick, at=at + 3 * step)
    _same_state(general, fast)


def test_numbers_other_than_floats_tick_in_arrays_as_the_general_path_reads_them(
    prices: np.ndarray,
) -> None:
    general, fast, ran = _warmed(prices)
    tick: dict[str, Any] = {f"I{k}": float(prices[5, k]) for k in range(N)}
    tick["I0"] = int(round(prices[5, 0]))
    tick["I1"] = np.float32(prices[5, 1])
    tick["I2"] = np.float64(prices[5, 2])
    a, b = (s.update_many(tick, at=DAYS[5]) for s in (general, fast))
    assert ran[-1] is True
    np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    tick["I0"] = "101.5"  # text goes the general way (and is read there)
    a, b = (s.update_many(tick, at=DAYS[6]) for s in (general, fast))
    assert ran[-1] is False
    np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    _same_state(general, fast)


def test_a_date_past_9999_is_refused_with_a_message() -> None:
    from gatecast.errors import DataError
    from gatecast.serve.observations import order_key

    with pytest.raises(DataError, match="past 9999-12-31"):
        order_key(pd.Timestamp("9999-12-31") + pd.Timedelta(days=1))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_the_numba_engine_ticks_a_market_as_the_numpy_general_path(
    dtype: Any, rtol: float, prices: np.ndarray
) -> None:
    """The compiled activations (``backend="numba"``) in the vectorised tick, against the NumPy
    engine's general path: float64 to 1e-12, float32 within its precision."""
    from gatecast.inference import NumpyEngine
    from gatecast.models.recurrent.base import weights_of
    from gatecast.serve import Stream

    model = _fit()
    spec, tensors = model._fitted(), weights_of(model.net_)
    sets = []
    for vector_min, backend in ((10**9, "numpy"), (2, "numba")):
        s = StreamSet(
            lambda b=backend: Stream.over(  # type: ignore[misc]
                spec, NumpyEngine(spec, tensors, dtype, backend=b), tensors
            )
        )
        s.vector_min = vector_min
        sets.append(s)
    assert sets[1].engine.stepper._gates is not None
    for t, day in enumerate(DAYS):
        tick = {f"I{k}": float(prices[t, k]) for k in range(N)}
        a, b = (s.update_many(tick, at=day) for s in sets)
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=rtol, atol=0)
    assert np.isfinite(list(b.values())).all()


def test_returns_in_percent_tick_in_arrays_as_the_general_path_computes_them(
    prices: np.ndarray,
) -> None:
    """Only variance models (window mode) measure returns in percent today; a sequence model made
    to, checks the vectorised tick's percent line against the general path's."""
    import dataclasses

    from gatecast.data.features import Units

    model = _fit(features=("return", "squared_return"))
    model.spec_ = dataclasses.replace(model._fitted(), units=Units(log=True, percent=True))
    general, fast, ran = _pair(model)
    for t, day in enumerate(DAYS[:8]):
        tick = {f"I{k}": float(prices[t, k]) for k in range(N)}
        a, b = (s.update_many(tick, at=day) for s in (general, fast))
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    assert sum(ran) >= 5
    _same_state(general, fast)
    plain = StreamSet(_fit(features=("return", "squared_return")).stream)
    for t, day in enumerate(DAYS[:8]):  # percent changes the inputs, so the forecasts differ
        c = plain.update_many({f"I{k}": float(prices[t, k]) for k in range(N)}, at=day)
    assert not np.allclose(list(c.values()), list(b.values()), rtol=1e-6)


def test_ticks_in_another_order_and_without_dates_match_the_general_path(
    prices: np.ndarray,
) -> None:
    """The whole market in another order than the instruments joined (the first, then the rest
    reversed: rows gathered, not stepped in place), and ticks with no date (no order kept), both
    ways alike."""
    general, fast, ran = _pair(_fit())
    shuffled = [0, *reversed(range(1, N))]
    for t in range(12):
        keys = range(N) if t < 3 or t % 2 == 0 else shuffled
        tick = {f"I{k}": float(prices[t, k]) for k in keys}
        a, b = (s.update_many(tick) for s in (general, fast))
        assert list(a) == list(b)
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, atol=1e-12)
    assert sum(ran) >= 9
    _same_state(general, fast)
    assert fast["I0"].last is None


def test_a_penny_price_a_thousand_times_off_is_refused_both_ways() -> None:
    """The 1000x check holds for prices below 1 too (FX rates, penny stocks)."""
    general, fast, ran = _pair(_fit())
    base = 0.01 * np.linspace(1.0, 2.0, N)
    for t, day in enumerate(DAYS[:4]):
        tick = {f"I{k}": float(base[k] * (1 + 0.01 * t)) for k in range(N)}
        for s in (general, fast):
            s.update_many(tick, at=day)
    assert ran[-1] is True
    tick = {f"I{k}": float(base[k]) for k in range(N)} | {"I2": float(base[2] * 2000)}
    for s in (general, fast):
        with pytest.raises(OutlierError, match="instrument 'I2'"):
            s.update_many(tick, at=DAYS[4])
    _same_state(general, fast)

"""The quick tick of ``Stream.update`` (``Stream._quick_tick``): a price alone, no date, on a
sequence model of the NumPy engine. It must give the general path's forecasts bit for bit, leave
the same state, and hand every row it does not take (warm-up, refused prices) to the general
path, which then raises its own error."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest

from gatecast.data import ar1_prices
from gatecast.data.features import TargetSpec
from gatecast.errors import DataError
from gatecast.inference import NumpyEngine
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.models.recurrent.base import weights_of
from gatecast.serve import Stream

TINY = dict(hidden=5, layers=2, window=4, epochs=1, chunks=4, chunk_len=16, burn_in=4, seed=0)


def _fit(**kw: Any) -> RecurrentForecaster:
    prices = ar1_prices(120, phi=0.6, sigma=0.01, seed=3)
    m = RecurrentForecaster(mode="sequence", **(TINY | kw)).fit(prices)
    m.net_.double()
    return m


def _streams(model: RecurrentForecaster, backend: str) -> tuple[Stream, Stream]:
    spec, tensors = model._fitted(), weights_of(model.net_)
    quick, general = (
        Stream.over(spec, NumpyEngine(spec, tensors, backend=backend), tensors)  # type: ignore[arg-type]
        for _ in range(2)
    )
    general._quick = None  # always the general path
    assert quick._quick is not None
    return quick, general


BAD = [math.nan, math.inf, -math.inf, -5.0, 0.0, 5e-324, 1e9, 1e-9]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"cell": "gru", "features": ("return", "abs_return", "squared_return")},
        {"features": ("return", "price")},
        {"target": "price"},
        {"target": "direction"},
        {"target": TargetSpec("return", log=False)},
    ],
    ids=["return", "gru-three", "with-price", "anchored-price", "direction", "simple"],
)
def test_the_quick_tick_is_the_general_path_bit_for_bit(kw: dict[str, Any], backend: str) -> None:
    quick, general = _streams(_fit(**kw), backend)
    prices = ar1_prices(80, phi=0.3, sigma=0.02, seed=8)["close"].tolist()  # every BAD row
    taken, inner = 0, quick._quick_tick
    quick._quick_tick = lambda p: (r := inner(p), ran.append(r is not None))[0]  # type: ignore[method-assign]
    ran: list[bool] = []
    for t, p in enumerate(prices):
        if t % 9 == 4:  # a refused row: the same error both ways, nothing changed
            bad = BAD[(t // 9) % len(BAD)]
            errors = []
            for s in (quick, general):
                with pytest.raises(DataError) as info:
                    s.update(bad)
                errors.append(str(info.value))
            assert errors[0] == errors[1]
        before = quick.valid
        a, b = quick.update(p), general.update(p)
        taken += before > 0
        assert a == b or (math.isnan(a) and math.isnan(b)), t
    assert taken >= 50 and math.isfinite(a)
    assert sum(ran) == taken  # every row after the warm-up ran the quick tick
    assert quick.state() == general.state()  # counts, history and states: the same bytes
    steps = (quick.engine._s.steps, general.engine._s.steps)  # type: ignore[attr-defined]
    assert steps == (taken + 1, taken + 1)  # and the first defined row, the general way


def test_rows_the_quick_tick_does_not_take_go_the_general_way() -> None:
    quick, general = _streams(_fit(), "numpy")
    for s in (quick, general):
        s.update(100.0)
        s.update(101.0)
    calls: list[float | None] = []
    inner = quick._quick_tick

    def recorded(price: float) -> float | None:
        out = inner(price)
        calls.append(out)
        return out

    quick._quick_tick = recorded  # type: ignore[method-assign]
    assert quick.update(102.0) == general.update(102.0) and calls[-1] is not None
    # a date, a mapping, an int: never the quick tick
    for obs, at in (({"close": 103.0}, None), (103.5, "2020-01-02"), (104, None)):
        n = len(calls)
        assert quick.update(obs, at) == general.update(obs, at)
        assert len(calls) == n
    # a price at the 1000x edge is taken (as the general path accepts it)
    edge = 104.0 * 1e3
    assert quick.update(edge) == general.update(edge) and calls[-1] is not None
    for s in (quick, general):  # past it, refused both ways
        with pytest.raises(DataError, match="times the previous one"):
            s.update(sys.float_info.max)
    assert quick.state() == general.state()
    # a subnormal price within 1000x of a tiny previous one: refused both ways
    for s in (quick, general):
        s.reset()
        for p in (2e-306, 1e-306, 1.5e-306):
            s.update(p)
        with pytest.raises(DataError, match="too small to be a price"):
            s.update(5e-309)
    assert quick.state() == general.state()


def test_returns_in_percent_take_the_quick_tick_as_the_general_path_computes_them() -> None:
    import dataclasses

    from gatecast.data.features import Units

    model = _fit(features=("return", "abs_return"))
    model.spec_ = dataclasses.replace(model._fitted(), units=Units(log=False, percent=True))
    quick, general = _streams(model, "numba")
    for p in ar1_prices(30, phi=0.3, sigma=0.02, seed=9)["close"].tolist():
        a, b = quick.update(p), general.update(p)
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert math.isfinite(a) and quick.state() == general.state()

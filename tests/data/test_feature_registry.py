"""Every registered feature's online form (one tick at a time) equals its batch form."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecast.data.features import (
    FEATURE_REGISTRY,
    FEATURES,
    Units,
    build_features,
    lookback,
    needed_fields,
)

UNITS = [Units(log=True), Units(log=False), Units(log=True, percent=True)]


@st.composite
def ohlcv(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=2, max_value=60))
    steps = draw(st.lists(st.floats(-0.08, 0.08, allow_nan=False), min_size=n, max_size=n))
    close = 100.0 * np.exp(np.cumsum(steps))
    spread = np.array(draw(st.lists(st.floats(0.0, 0.05), min_size=n, max_size=n)))
    high = close * (1.0 + spread)
    low = close / (1.0 + spread / 2)
    # volumes with zeros: the log-volume change is NaN around them, in both forms
    volume = np.array(
        draw(st.lists(st.sampled_from([0.0, 1e6, 2.5e6, 7e6]), min_size=n, max_size=n))
    )
    idx = pd.date_range("2020-01-01", periods=n, freq="B", name="date")
    return pd.DataFrame({"close": close, "high": high, "low": low, "volume": volume}, index=idx)


def online_features(df: pd.DataFrame, names: tuple[str, ...], units: Units) -> np.ndarray:
    """Run the online forms row by row, as a stream does."""
    hist: deque = deque(maxlen=lookback(names) + 1)
    fns = [FEATURE_REGISTRY[n].online for n in names]
    out = np.empty((len(df), len(names)))
    for t, row in enumerate(df.itertuples(index=False)):
        hist.append((row.close, row.high, row.low, row.volume))
        out[t] = [fn(hist, units) for fn in fns]
    return out


@pytest.mark.parametrize("units", UNITS, ids=["log", "simple", "percent-log"])
@settings(max_examples=40, deadline=None)
@given(df=ohlcv())
def test_online_equals_batch_for_every_feature(units: Units, df: pd.DataFrame) -> None:
    batch = build_features(df, FEATURES, "close", log=units.log, percent=units.percent)
    online = online_features(df, FEATURES, units)
    b = batch.to_numpy(dtype=float)
    assert np.array_equal(np.isnan(b), np.isnan(online)), list(
        batch.columns[(np.isnan(b) != np.isnan(online)).any(axis=0)]
    )
    # two computation paths (pandas' rolling sums vs a row-by-row sum): a rolling mean near
    # cancellation, then its log, differ by a few parts in 1e12 on some examples (1.4e-12 seen)
    np.testing.assert_allclose(online[~np.isnan(b)], b[~np.isnan(b)], rtol=1e-10, atol=1e-12)


def test_registry_declares_what_each_feature_reads() -> None:
    assert needed_fields(("return",)) == ("price",)
    assert needed_fields(("log_range", "log_volume_change")) == ("high", "low", "volume")
    assert lookback(("return", "log_rv22")) == 22
    assert lookback(("price", "log_parkinson")) == 0


def test_percent_units_scale_returns_by_100() -> None:
    df = pd.DataFrame({"close": [100.0, 101.0, 99.0]})
    frac = build_features(df, ("return", "squared_return"))
    pct = build_features(df, ("return", "squared_return"), percent=True)
    np.testing.assert_allclose(pct["return"][1:], 100 * frac["return"][1:], rtol=1e-15)
    np.testing.assert_allclose(
        pct["squared_return"][1:], 1e4 * frac["squared_return"][1:], rtol=1e-14
    )

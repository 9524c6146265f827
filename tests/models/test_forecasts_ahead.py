"""Forecasts a user can act on: the one for the day after the data, and price forecasts that are
anchored on the last price so they cannot saturate outside the training range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import gbm, random_walk
from gatecast.data.features import TargetSpec
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import load_numpy

TINY = dict(hidden=6, layers=1, window=8, epochs=3, chunks=4, burn_in=4, seed=0, device="cpu")


@pytest.mark.parametrize("mode", ["window", "sequence"])
def test_the_forecast_after_the_last_row_is_the_streams_last_answer(mode, tmp_path) -> None:
    df = random_walk(300, seed=1)
    m = RecurrentForecaster(mode=mode, **TINY).fit(df.iloc[:200])
    m.net_.double()
    fc = m.predict(df, future=True)
    assert fc.index[-1] == pd.Timestamp("2001-02-26")  # Friday 2001-02-23 is the last row
    assert df.index[-1] == pd.Timestamp("2001-02-23")
    np.testing.assert_allclose(fc.iloc[:-1], m.predict(df), rtol=1e-12)  # the rest unchanged
    tomorrow = m.stream("numpy").update_many(df["close"])[-1]
    assert fc.iloc[-1] == pytest.approx(tomorrow, rel=1e-12)
    assert m.forecast_next(df).equals(fc.iloc[-1:])
    m.save(tmp_path / "m")
    np.testing.assert_allclose(
        load_numpy(tmp_path / "m").forecast_next(df), fc.iloc[-1:], rtol=1e-9
    )


def test_a_horizon_of_h_gives_h_forecasts_beyond_the_data_on_an_integer_index() -> None:
    df = random_walk(250, seed=2, start=None)
    assert isinstance(df.index, pd.RangeIndex)
    m = RecurrentForecaster(target=TargetSpec("return", horizon=3), **TINY).fit(df.iloc[:200])
    ahead = m.forecast_next(df)
    assert list(ahead.index) == [250, 251, 252]
    # the forecast for 250 + k - 1 uses rows up to 246 + k: change the last row, only the
    # forecasts that read it move
    moved = df.copy()
    moved.iloc[-1, moved.columns.get_loc("close")] *= 1.05
    again = m.forecast_next(moved)
    assert again.iloc[0] == ahead.iloc[0] and again.iloc[1] == ahead.iloc[1]
    assert again.iloc[2] != ahead.iloc[2]


def test_an_anchored_price_never_leaves_a_band_around_the_last_price() -> None:
    # strong drift: the test prices lie far above the training range
    df = gbm(600, mu=2.0, sigma=0.2, seed=3)
    train = df.iloc[:400]
    assert df["close"].iloc[450:].min() > 1.5 * train["close"].max()
    m = RecurrentForecaster(target="price", **TINY).fit(train)
    fc = m.predict(df, start=df.index[400], future=True)
    last = df["close"].shift(1).reindex(fc.index)
    last.iloc[-1] = df["close"].iloc[-1]  # tomorrow's anchor: the last price
    ratio = fc / last
    assert ((ratio > 0.5) & (ratio < 2.0)).all()
    # the level model of the course notebook saturates at the top of its training range
    level = RecurrentForecaster(
        target=TargetSpec("price", anchored=False), features=("price",), scaler="minmax", **TINY
    ).fit(train)
    sat = level.predict(df, start=df.index[450])
    assert (sat < 0.7 * df["close"].reindex(sat.index)).all()


def test_anchored_stream_moves_the_current_price() -> None:
    df = random_walk(200, seed=4)
    m = RecurrentForecaster(target="price", **TINY).fit(df.iloc[:150])
    m.net_.double()
    out = m.stream("numpy").update_many(df["close"])
    ref = m.predict(df, future=True).reindex(df.index[1:].append(m.forecast_next(df).index))
    got = out[:]  # the answer after row k is the forecast for row k + 1
    ok = ~np.isnan(ref.to_numpy())
    np.testing.assert_allclose(got[ok], ref.to_numpy()[ok], rtol=1e-12)

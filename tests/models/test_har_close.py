"""The close-only HAR (absolute returns): its fit against a closed-form OLS (numpy lstsq), no
look-ahead in its inputs, the automatic choice between the range and |r|, and a file whose
High/Low were removed giving the same close-only path as a file that never had them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.errors import ConfigError, UnknownColumnError
from gatecast.models.har import ABS_FLOOR_SHARE, HARForecaster


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2010":"2015-03"]


@pytest.fixture(scope="module")
def closes(spx: pd.DataFrame) -> pd.DataFrame:
    """A file that never had High/Low: the date and one price column."""
    out = spx[["adj_close"]].copy()
    out.attrs["source"] = "closes.csv"
    return out


def oracle(prices: pd.Series, lags: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(design, |r|, row ok) of the HAR on |r| written out with NumPy: row t regresses |r_t| on
    the means of |r| over t-k .. t-1."""
    a = np.abs(100.0 * np.diff(np.log(prices.to_numpy(dtype=float))))
    a = np.concatenate([[np.nan], a])  # row 0 has no return
    cols = [np.ones(len(a))]
    for k in lags:
        avg = np.full(len(a), np.nan)
        for t in range(k + 1, len(a)):  # the mean of rows t-k .. t-1, all defined
            avg[t] = a[t - k : t].mean()
        cols.append(avg)
    X = np.column_stack(cols)
    ok = np.isfinite(X).all(axis=1) & np.isfinite(a)
    return X, a, ok


def test_the_close_only_har_is_the_ols_of_abs_returns_on_their_means(closes) -> None:
    train = closes.loc[:"2014"]
    model = HARForecaster(measure="abs").fit(train)
    X, a, ok = oracle(train["adj_close"], (1, 5, 22))
    beta, *_ = np.linalg.lstsq(X[ok], a[ok], rcond=None)
    np.testing.assert_allclose(model.params_, beta, rtol=1e-8)
    assert model.measure_ == "abs" and beta[1:].sum() > 0.5  # |r| is persistent
    # the level maps the squared fit onto the squared-return mean of the same rows
    floor = ABS_FLOOR_SHARE * a[ok].mean()
    fit2 = np.maximum(X[ok] @ beta, floor) ** 2
    level = np.mean(a[ok] ** 2) / fit2.mean()
    assert model.floor_ == pytest.approx(floor, rel=1e-12)
    assert model.level_ == pytest.approx(level, rel=1e-8)
    # and the forecasts for the test days are that closed form on the whole file
    fc = model.predict(closes, start="2015-01-02")
    Xa, _, _ = oracle(closes["adj_close"], (1, 5, 22))
    rows = closes.index.get_indexer(fc.index)
    np.testing.assert_allclose(fc, level * np.maximum(Xa[rows] @ beta, floor) ** 2, rtol=1e-8)


def test_the_forecast_made_at_a_close_reads_that_day_and_none_after(closes) -> None:
    model = HARForecaster(measure="abs").fit(closes.loc[:"2014"])
    t = closes.index.get_loc(pd.Timestamp("2015-02-10"))
    moved = closes.copy()
    moved.iloc[t:, 0] *= 0.8  # day t falls 20% and stays there
    base_fc, moved_fc = model.predict(closes), model.predict(moved)
    # the forecast for t reads days up to t - 1: unchanged; the one for t + 1 reads t: moved
    pd.testing.assert_series_equal(moved_fc.loc[: closes.index[t]], base_fc.loc[: closes.index[t]])
    assert not np.isclose(moved_fc.loc[closes.index[t + 1]], base_fc.loc[closes.index[t + 1]])
    assert moved_fc.loc[closes.index[t + 2]] > 5 * base_fc.loc[closes.index[t + 2]]
    base_o, moved_o = model.forecast_by_origin(closes), model.forecast_by_origin(moved)
    pd.testing.assert_series_equal(moved_o.iloc[:t], base_o.iloc[:t])
    # the row of origin s is the forecast for the day after s
    np.testing.assert_allclose(base_o.shift(1).reindex(base_fc.index), base_fc, rtol=1e-12)


def test_auto_uses_the_range_with_high_low_and_abs_returns_without(spx, closes) -> None:
    assert HARForecaster().fit(spx.loc[:"2014"]).measure_ == "range"
    assert HARForecaster().fit(closes.loc[:"2014"]).measure_ == "abs"
    # selectable when the range is there: the same model as on the closes alone
    chosen = HARForecaster(measure="abs").fit(spx.loc[:"2014"])
    auto = HARForecaster().fit(closes.loc[:"2014"])
    np.testing.assert_allclose(chosen.params_, auto.params_, rtol=1e-12)
    pd.testing.assert_series_equal(
        chosen.predict(spx, start="2015-01-02"), auto.predict(closes, start="2015-01-02")
    )
    with pytest.raises(ConfigError, match="measure 'rv' is unknown; choose one of auto"):
        HARForecaster(measure="rv")  # type: ignore[arg-type]
    with pytest.raises(UnknownColumnError, match=r"column .high. is not in closes\.csv"):
        HARForecaster(measure="range").fit(closes.loc[:"2014"])


def test_high_low_removed_is_the_same_close_only_path_as_never_having_them(spx, closes) -> None:
    removed = spx.drop(columns=["high", "low"])  # open, close, volume are still there
    a = HARForecaster().fit(removed.loc[:"2014"])
    b = HARForecaster().fit(closes.loc[:"2014"])
    assert a.measure_ == b.measure_ == "abs"
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-12)
    pd.testing.assert_series_equal(a.forecast_by_origin(removed), b.forecast_by_origin(closes))

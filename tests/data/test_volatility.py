"""Variance targets: percent returns, the squared and Parkinson proxies, and the training-only scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data.volatility import (
    VarianceTarget,
    as_variance_target,
    parkinson,
    parkinson_scale,
    percent_returns,
    variance_proxy,
)
from gatecast.errors import ConfigError, DataError, NonPositivePriceError, UnknownColumnError


@pytest.fixture
def bars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "high": [101.0, 103.0, 102.0, 104.0],
            "low": [99.0, 100.0, 98.0, 101.0],
            "close": [100.0, 102.0, 99.0, 103.0],
        },
        index=pd.bdate_range("2023-01-02", periods=4, name="date"),
    )


def test_percent_returns_and_squared_proxy(bars: pd.DataFrame) -> None:
    c = bars["close"].to_numpy()
    r = percent_returns(bars)
    assert np.isnan(r.iloc[0])
    np.testing.assert_allclose(r.to_numpy()[1:], 100 * np.log(c[1:] / c[:-1]))
    np.testing.assert_allclose(
        variance_proxy(bars, "squared").to_numpy()[1:], (100 * np.log(c[1:] / c[:-1])) ** 2
    )


def test_parkinson_formula(bars: pd.DataFrame) -> None:
    hl = np.log(bars["high"].to_numpy() / bars["low"].to_numpy())
    np.testing.assert_allclose(parkinson(bars).to_numpy(), 1e4 * hl**2 / (4 * np.log(2)))


def test_parkinson_scale_maps_the_range_to_the_squared_return_level(bars: pd.DataFrame) -> None:
    c = parkinson_scale(bars)
    r2 = percent_returns(bars).to_numpy()[1:] ** 2
    pk = parkinson(bars).to_numpy()[1:]  # the first row has no return
    assert c == pytest.approx(r2.sum() / pk.sum())
    np.testing.assert_allclose(
        variance_proxy(bars, "parkinson", scale=c).to_numpy(), c * parkinson(bars).to_numpy()
    )


def test_parkinson_proxy_needs_a_training_scale(bars: pd.DataFrame) -> None:
    message = r"^the Parkinson proxy needs scale=parkinson_scale\(training rows\)$"
    with pytest.raises(ConfigError, match=message):
        variance_proxy(bars, "parkinson")
    with pytest.raises(ConfigError, match=r"^proxy 'garman' is unknown; choose one of squared"):
        variance_proxy(bars, "garman", scale=1.0)
    pd.testing.assert_series_equal(variance_proxy(bars), variance_proxy(bars, "squared"))


def test_high_below_low_names_the_date(bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad.loc["2023-01-04", "low"] = 110.0
    with pytest.raises(DataError, match="high < low on 2023-01-04"):
        parkinson(bad)


def test_non_positive_prices_and_missing_columns(bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad.iloc[2, 2] = 0.0
    with pytest.raises(NonPositivePriceError, match="non-positive value") as err:
        percent_returns(bad)
    assert str(bad.index[2]) in str(err.value)  # names the first bad date
    with pytest.raises(UnknownColumnError, match="'high'"):
        parkinson(bars[["close"]])


def test_variance_target_validates_and_accepts_names() -> None:
    assert as_variance_target("parkinson") == VarianceTarget(proxy="parkinson")
    assert as_variance_target(None).proxy == "squared"
    assert VarianceTarget().to_dict() == {"proxy": "squared", "horizon": 1, "kind": "variance"}
    with pytest.raises(
        ConfigError, match="proxy 'garman' is unknown; choose one of squared, parkinson"
    ):
        VarianceTarget(proxy="garman")
    with pytest.raises(ConfigError, match="one day ahead only"):
        VarianceTarget(horizon=5)


def test_names_columns_and_the_dict_form(bars: pd.DataFrame) -> None:
    assert percent_returns(bars).name == "return"
    assert variance_proxy(bars, "squared").name == "proxy"
    assert variance_proxy(bars, "parkinson", scale=2.0).name == "proxy"
    other = bars.rename(columns={"close": "px"}).assign(close=1.0)  # a column chosen by name
    np.testing.assert_allclose(
        variance_proxy(other, "squared", column="px").to_numpy()[1:],
        variance_proxy(bars, "squared").to_numpy()[1:],
    )
    assert parkinson_scale(other, "px") == pytest.approx(parkinson_scale(bars))
    back = as_variance_target(VarianceTarget("parkinson").to_dict())
    assert back == VarianceTarget("parkinson") and as_variance_target(back) is back


def test_parkinson_scale_needs_two_rows_with_a_range(bars: pd.DataFrame) -> None:
    message = r"^too few rows with a positive high-low range to map the Parkinson proxy$"
    with pytest.raises(DataError, match=message):
        parkinson_scale(bars.iloc[:2])  # one return
    flat = bars.assign(high=bars["low"])  # no range at all
    with pytest.raises(DataError, match=message):
        parkinson_scale(flat)
    narrow = bars.assign(high=bars["low"] * 1.001)  # ranges of 0.1%: PK sums to far below 1
    assert parkinson(narrow).iloc[1:].sum() < 1 and parkinson_scale(narrow) > 0
    # two rows with a return and a range are enough; rows without a return are left out
    assert parkinson_scale(bars.iloc[:3]) == pytest.approx(
        (percent_returns(bars.iloc[:3]) ** 2).sum() / parkinson(bars).iloc[1:3].sum()
    )

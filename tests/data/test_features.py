"""Targets and features against their formulas, on hand-made frames and random prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gatecast.data import TargetSpec, build_features, make_target, price_series, returns
from gatecast.data.features import check_not_constant
from gatecast.errors import (
    ConfigError,
    ConstantSeriesError,
    NonPositivePriceError,
    UnknownColumnError,
)

FAST = settings(deadline=None, max_examples=60)

DATES = pd.bdate_range("2022-03-01", periods=5, name="date")


@pytest.fixture
def ohlcv() -> pd.DataFrame:
    """Five hand-made days: 2022-03-01 .. 2022-03-07."""
    return pd.DataFrame(
        {
            "open": [10.0, 11.0, 10.5, 12.0, 12.0],
            "high": [11.0, 12.0, 11.0, 13.0, 12.5],
            "low": [9.5, 10.5, 10.0, 11.5, 11.0],
            "close": [10.0, 11.0, 11.0, 12.1, 11.0],
            "volume": [100.0, 200.0, 0.0, 150.0, 300.0],
        },
        index=DATES,
    )


positive_prices = st.integers(2, 40).flatmap(
    lambda n: arrays(np.float64, n, elements=st.floats(0.01, 1e4, allow_nan=False))
)


@FAST
@given(p=positive_prices, h=st.integers(1, 5))
def test_return_and_direction_targets_follow_their_formulas(p: np.ndarray, h: int) -> None:
    df = pd.DataFrame({"close": p}, index=pd.bdate_range("2020-01-01", periods=len(p)))
    r = make_target(df, TargetSpec("return", horizon=h)).to_numpy()
    d = make_target(df, TargetSpec("direction", horizon=h)).to_numpy()
    simple = make_target(df, TargetSpec("return", log=False, horizon=h)).to_numpy()
    assert np.isnan(r[:h]).all() and np.isnan(d[:h]).all() and np.isnan(simple[:h]).all()
    for t in range(h, len(p)):
        assert r[t] == pytest.approx(np.log(p[t] / p[t - h]), rel=1e-9, abs=1e-12)
        assert simple[t] == pytest.approx(p[t] / p[t - h] - 1, rel=1e-9, abs=1e-12)
        assert d[t] == (1.0 if r[t] > 0 else 0.0)
        if abs(p[t] / p[t - h] - 1) > 1e-12:  # beyond rounding, "up" means the price rose
            assert d[t] == float(p[t] > p[t - h])
    np.testing.assert_array_equal(make_target(df, TargetSpec("price")).to_numpy(), p)


def test_targets_on_hand_made_prices(ohlcv: pd.DataFrame) -> None:
    r = make_target(ohlcv, TargetSpec("return", horizon=2))
    assert r.name == "target"
    assert r.loc["2022-03-03"] == pytest.approx(np.log(11.0 / 10.0))
    assert r.loc["2022-03-07"] == pytest.approx(np.log(11.0 / 11.0))
    d = make_target(ohlcv, TargetSpec("direction", horizon=1))
    # a flat day (11 -> 11) is not "up"
    np.testing.assert_array_equal(d.to_numpy(), [np.nan, 1.0, 0.0, 1.0, 0.0])
    price = make_target(ohlcv, TargetSpec("price"), column="open")
    np.testing.assert_array_equal(price.to_numpy(), ohlcv["open"].to_numpy())


def test_features_match_direct_formulas(ohlcv: pd.DataFrame) -> None:
    names = ("return", "squared_return", "abs_return", "log_range", "price", "log_volume_change")
    f = build_features(ohlcv, names)
    assert list(f.columns) == list(names)
    c, hi, lo, v = (ohlcv[k].to_numpy() for k in ("close", "high", "low", "volume"))
    r = np.log(c[1:] / c[:-1])
    np.testing.assert_allclose(f["return"].to_numpy()[1:], r)
    np.testing.assert_allclose(f["squared_return"].to_numpy()[1:], r**2)
    np.testing.assert_allclose(f["abs_return"].to_numpy()[1:], np.abs(r))
    np.testing.assert_allclose(f["log_range"].to_numpy(), np.log(hi / lo))
    np.testing.assert_array_equal(f["price"].to_numpy(), c)
    assert f["return"].loc["2022-03-04"] == pytest.approx(np.log(12.1 / 11.0))
    assert np.isnan(
        f.iloc[0][["return", "squared_return", "abs_return"]].to_numpy(dtype=float)
    ).all()
    # zero volume on 2022-03-03 has no log: NaN there and on the next change, not -inf
    lvc = f["log_volume_change"].to_numpy()
    assert lvc[1] == pytest.approx(np.log(200 / 100)) and np.isnan(lvc[2:4]).all()
    assert lvc[4] == pytest.approx(np.log(300 / 150))
    assert v[2] == 0


def test_simple_return_feature(ohlcv: pd.DataFrame) -> None:
    f = build_features(ohlcv, ["return"], log=False)
    np.testing.assert_allclose(f["return"].to_numpy()[1:], [0.1, 0.0, 0.1, 11.0 / 12.1 - 1])


def test_returns_over_several_periods_are_stamped_with_the_later_date(ohlcv: pd.DataFrame) -> None:
    r = returns(ohlcv["close"], periods=3)
    assert r.index[3] == pd.Timestamp("2022-03-04")
    assert r.iloc[3] == pytest.approx(np.log(12.1 / 10.0))
    assert r.iloc[:3].isna().all()


def test_price_series_prefers_adjusted_close() -> None:
    df = pd.DataFrame({"close": [1.0, 2.0], "adj_close": [0.5, 1.0]}, index=DATES[:2])
    assert price_series(df).name == "adj_close"
    np.testing.assert_array_equal(price_series(df, "Close").to_numpy(), [1.0, 2.0])


def test_non_positive_price_for_log_returns_names_the_date(ohlcv: pd.DataFrame) -> None:
    df = ohlcv.copy()
    df.loc["2022-03-04", "close"] = 0.0
    df.loc["2022-03-07", "close"] = -1.0
    with pytest.raises(NonPositivePriceError, match="2 non-positive") as err:
        make_target(df, TargetSpec("return"))
    msg = str(err.value)
    assert "2022-03-04" in msg and "'close'" in msg and "--target price" in msg
    with pytest.raises(NonPositivePriceError, match="2022-03-04"):
        build_features(df, ("return",))
    # price targets and simple returns need no logs
    assert make_target(df, TargetSpec("price")).iloc[3] == 0.0
    assert make_target(df, TargetSpec("return", log=False)).iloc[3] == pytest.approx(-1.0)


def test_log_range_without_high_low_lists_the_columns() -> None:
    df = pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=DATES[:3])
    with pytest.raises(UnknownColumnError, match=r"'high' is not in .*available columns: close"):
        build_features(df, ("log_range",))


def test_unknown_feature_and_empty_features_raise() -> None:
    df = pd.DataFrame({"close": [1.0, 2.0]}, index=DATES[:2])
    with pytest.raises(ConfigError, match="feature 'rsi' is unknown; choose from return, price"):
        build_features(df, ("return", "rsi"))
    with pytest.raises(ConfigError, match="features is empty"):
        build_features(df, ())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"kind": "volatility"},
            "target 'volatility' is unknown; choose one of price, return, direction",
        ),
        ({"horizon": 0}, "horizon=0: must be an integer >= 1"),
        ({"horizon": 1.5}, "horizon=1.5"),
    ],
)
def test_target_spec_validates(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TargetSpec(**kwargs)  # type: ignore[arg-type]


def test_target_spec_round_trips_through_dict() -> None:
    spec = TargetSpec("direction", log=False, horizon=3)
    assert TargetSpec.from_dict(spec.to_dict()) == spec
    anchored = TargetSpec("price")
    assert anchored.anchored and TargetSpec.from_dict(anchored.to_dict()) == anchored
    # a price model saved before anchoring existed learnt the level, and still does
    old = TargetSpec.from_dict({"kind": "price"})
    assert old == TargetSpec("price", log=True, horizon=1, anchored=False)
    assert not TargetSpec("return", anchored=True).anchored  # only a price can be anchored


def test_constant_series_raises_constant_series_error() -> None:
    with pytest.raises(ConstantSeriesError, match=r"'close' in file x\.csv is constant \(0\.1\)"):
        check_not_constant(pd.Series([0.1, 0.1, np.nan, 0.1]), "close", "file x.csv")
    with pytest.raises(ConstantSeriesError, match="no values"):
        check_not_constant(np.array([np.nan, np.inf]), "close")
    check_not_constant(np.array([0.1, 0.1, 0.2]), "close")  # varies: no error

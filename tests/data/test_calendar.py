"""The date after the data, in the data's own calendar."""

from __future__ import annotations

import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.calendar import next_dates
from gatecast.errors import ConfigError


def test_business_days_skip_the_weekend() -> None:
    idx = pd.DatetimeIndex(["2018-12-26", "2018-12-27", "2018-12-28"])  # ends on a Friday
    assert list(next_dates(idx, 2)) == [pd.Timestamp("2018-12-31"), pd.Timestamp("2019-01-01")]


def test_a_fixed_holiday_the_data_never_trades_is_skipped() -> None:
    # S&P 500 ends on Monday 2018-12-31; 1 January is never a trading day in its history
    assert list(next_dates(load("sp500").index, 2)) == [
        pd.Timestamp("2019-01-02"),
        pd.Timestamp("2019-01-03"),
    ]
    # a weekday series with every 4 July missing learns that day too
    days = pd.bdate_range("2010-01-01", "2015-07-02")
    days = days[~((days.month == 7) & (days.day == 4))]
    assert next_dates(days, 1)[0] == pd.Timestamp("2015-07-03")  # a Friday
    upto_3rd = days[days <= "2014-07-03"]  # Thursday 2014-07-03 -> Friday 4th is skipped
    assert next_dates(upto_3rd, 1)[0] == pd.Timestamp("2014-07-07")


def test_regular_frequencies_continue_as_they_are() -> None:
    monthly = pd.date_range("2018-01-01", periods=12, freq="MS")
    assert next_dates(monthly, 1)[0] == pd.Timestamp("2019-01-01")
    daily = pd.date_range("2018-01-01", periods=30, freq="D")  # every calendar day (crypto)
    assert next_dates(daily, 1)[0] == pd.Timestamp("2018-01-31")
    hourly = pd.date_range("2018-01-01", periods=30, freq="h")
    assert next_dates(hourly, 1)[0] == pd.Timestamp("2018-01-02 06:00")


def test_an_integer_index_continues_with_integers() -> None:
    assert list(next_dates(pd.RangeIndex(10), 3)) == [10, 11, 12]
    assert list(next_dates(pd.Index([3, 7, 9]), 1)) == [10]


def test_refusals_name_the_fault() -> None:
    with pytest.raises(ConfigError, match="empty index"):
        next_dates(pd.DatetimeIndex([]), 1)
    with pytest.raises(ConfigError, match="neither dates nor integers"):
        next_dates(pd.Index(["a", "b"]), 1)

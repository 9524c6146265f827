"""The dates after the data, in the data's own calendar or an exchange's; bars per year."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.calendar import (
    BUSINESS_DAYS_A_YEAR,
    Calendar,
    bars_per_year,
    calendar_for,
    calendar_of,
    check_calendar,
    information_dates,
    next_dates,
)
from gatecast.errors import ConfigError, DataError


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


# -- exchanges (exchange_calendars, offline) and intraday bars ----------------------------------


def _xnys():
    """exchange_calendars' XNYS, read directly (its own pandas deprecation warnings hushed)."""
    import exchange_calendars as xc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xc.get_calendar("XNYS")


def _xnys_bars(start: str, end: str, bar: str = "5min", end_stamped: bool = False):
    """Intraday bars of every XNYS session from start to end (local New York time), built
    from exchange_calendars' opens and closes (early closes included)."""
    cal = _xnys()
    stamps = []
    for day in cal.sessions_in_range(start, end):
        o, c = (
            t.tz_convert("America/New_York").tz_localize(None)
            for t in (cal.session_open(day), cal.session_close(day))
        )
        step = pd.Timedelta(bar)
        grid = (
            pd.date_range(o + step, c, freq=bar)
            if end_stamped
            else pd.date_range(o, c - step, freq=bar)
        )
        stamps.extend(grid)
    return pd.DatetimeIndex(stamps)


def test_after_new_years_eve_comes_the_next_xnys_session_not_new_years_day() -> None:
    days = pd.bdate_range("2024-10-01", "2024-12-31")
    assert next_dates(days, 1)[0] == pd.Timestamp("2025-01-01")  # the data's own: no holiday known
    xnys = calendar_for(days, "XNYS")
    assert xnys == Calendar("XNYS")
    assert list(next_dates(days, 2, xnys)) == [
        pd.Timestamp("2025-01-02"),
        pd.Timestamp("2025-01-03"),
    ]
    # Good Friday, Thanksgiving and Christmas are XNYS holidays too
    assert xnys.after(pd.Timestamp("2024-03-28"), 1) == [pd.Timestamp("2024-04-01")]
    assert xnys.after(pd.Timestamp("2024-11-27"), 1) == [pd.Timestamp("2024-11-29")]
    assert xnys.after(pd.Timestamp("2024-12-24"), 1) == [pd.Timestamp("2024-12-26")]


def test_the_bundled_us_series_follow_xnys_and_wti_its_own_days() -> None:
    assert calendar_of(load("sp500")) == Calendar("XNYS")
    assert calendar_of(load("sp500").iloc[-300:]) == Calendar("XNYS")  # a slice keeps it
    assert calendar_of(load("wti")).name == "data"


def test_minute_bars_keep_their_times_and_continue_within_the_session() -> None:
    bars = _xnys_bars("2024-12-02", "2024-12-31")
    assert bars[-1] == pd.Timestamp("2024-12-31 15:55")
    # the data's own calendar learns the session from the bars (09:30 to the 15:55 bar)
    own = calendar_for(bars)
    assert own == Calendar("data", bar="5min", session=("09:30", "15:55"))
    assert list(next_dates(bars, 2, own)) == [
        pd.Timestamp("2025-01-01 09:30"),  # business days: 1 January is not known as a holiday
        pd.Timestamp("2025-01-01 09:35"),
    ]
    assert own.after(pd.Timestamp("2024-12-31 10:00"), 1) == [pd.Timestamp("2024-12-31 10:05")]
    # XNYS knows the holiday and the early close of Christmas Eve (13:00)
    xnys = calendar_for(bars, "XNYS")
    assert xnys == Calendar("XNYS", bar="5min")
    assert list(next_dates(bars, 2, xnys)) == [
        pd.Timestamp("2025-01-02 09:30"),
        pd.Timestamp("2025-01-02 09:35"),
    ]
    assert xnys.after(pd.Timestamp("2024-12-24 12:55"), 1) == [pd.Timestamp("2024-12-26 09:30")]
    assert check_calendar(bars, xnys) is None


def test_bars_stamped_at_their_end_end_on_the_close() -> None:
    bars = _xnys_bars("2024-12-02", "2024-12-31", end_stamped=True)
    cal = calendar_for(bars, "XNYS")
    assert cal == Calendar("XNYS", bar="5min", label="end")
    assert cal.after(pd.Timestamp("2024-12-31 15:55"), 2) == [
        pd.Timestamp("2024-12-31 16:00"),
        pd.Timestamp("2025-01-02 09:35"),
    ]


def test_a_lunch_break_holds_no_bar() -> None:
    xtks = Calendar("XTKS", bar="30min")  # Tokyo: 09:00-11:30, 12:30-15:30 (from November 2024)
    assert xtks.after(pd.Timestamp("2024-12-24 11:00"), 2) == [
        pd.Timestamp("2024-12-24 12:30"),
        pd.Timestamp("2024-12-24 13:00"),
    ]


def test_bars_in_another_time_zone_are_refused_and_a_few_off_days_are_noted() -> None:
    utc = _xnys_bars("2024-12-02", "2024-12-06") + pd.Timedelta("5h")  # written in UTC
    with pytest.raises(DataError, match=r"rows fall on times outside the XNYS sessions"):
        check_calendar(utc, calendar_for(utc, "XNYS"))
    days = pd.bdate_range("2024-01-02", "2024-12-31")  # MLK Day on the 15th, 8 holidays more
    note = check_calendar(days, Calendar("XNYS"))
    assert note == (
        "9 of 261 rows fall on days outside the XNYS sessions (the first 2024-01-15; "
        "timestamps are read as XNYS's local time)"
    )


def test_bars_per_year_counts_the_calendars_bars() -> None:
    cal = _xnys()
    days = pd.bdate_range("2021-01-01", "2023-12-31")
    sessions = [len(cal.sessions_in_range(f"{y}-01-01", f"{y}-12-31")) for y in (2021, 2022, 2023)]
    assert bars_per_year(days, "XNYS") == pytest.approx(np.mean(sessions))
    # minute bars are annualised as minutes: the session minutes of the years spanned
    bars = _xnys_bars("2024-12-02", "2024-12-31", bar="1min")
    year = cal.sessions_in_range("2024-01-01", "2024-12-31")
    minutes = sum((cal.session_close(d) - cal.session_open(d)) / pd.Timedelta("1min") for d in year)
    assert bars_per_year(bars, "XNYS") == pytest.approx(minutes)
    assert bars_per_year(bars, "XNYS") > 250 * 380  # never 252
    own = calendar_for(bars)
    assert bars_per_year(bars, own) == BUSINESS_DAYS_A_YEAR * 390  # 09:30 to the 15:59 bar
    # regular rhythms, and trading days counted in the whole years of the data
    assert bars_per_year(pd.date_range("2024-01-01", periods=99, freq="D")) == 365.2425
    assert bars_per_year(pd.date_range("2024-01-05", periods=99, freq="W-FRI")) == pytest.approx(
        365.2425 / 7
    )
    sp = load("sp500").index
    whole = pd.Series(1, index=sp.year).groupby(level=0).size().loc[2000:2017]
    assert bars_per_year(sp) == pytest.approx(whole.mean())
    with pytest.raises(ConfigError, match="undated rows"):
        bars_per_year(pd.RangeIndex(10))


def test_a_calendar_round_trips_and_bad_ones_are_refused() -> None:
    for cal in (
        Calendar("XNYS"),
        Calendar("XNYS", bar="1min", label="end"),
        Calendar("data", closed=((1, 1), (12, 25))),
        Calendar("data", freq="W-FRI"),
        Calendar("data", bar="5min", session=("09:30", "15:55")),
    ):
        assert Calendar.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    with pytest.raises(ConfigError, match=r"calendar 'XNYSE' is unknown \(did you mean .*XNYS"):
        Calendar("XNYSE")
    with pytest.raises(ConfigError, match="unknown keys"):
        Calendar.from_dict({"name": "XNYS", "tz": "UTC"})
    with pytest.raises(ConfigError, match="an intraday bar lasts less than a day"):
        Calendar("XNYS", bar="2D")
    with pytest.raises(ConfigError, match="describe the data's own calendar"):
        Calendar("XNYS", closed=((1, 1),))


def test_information_dates_are_horizon_rows_back() -> None:
    idx = pd.bdate_range("2024-12-23", "2024-12-31")
    future = pd.DatetimeIndex(["2025-01-02", "2025-01-03"])
    dates = idx[2:].append(future)
    used = information_dates(idx, dates, 2)
    assert list(used) == list(idx[:-2].append(idx[-2:]))


def test_the_examples_of_the_calendars_page_run() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "calendars.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(page), "exec"), {})


def test_hourly_bars_go_on_at_the_first_bar_of_the_next_day_not_at_the_same_hour() -> None:
    # the last 50 hourly bars span nights: the rule once added a business day to the last bar
    # (2025-01-01 15:00, 2025-01-02 15:00)
    days = pd.bdate_range("2024-12-02", "2024-12-31")
    hours = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in days for h in range(10, 16)])
    assert list(next_dates(hours, 2)) == [
        pd.Timestamp("2025-01-01 10:00"),
        pd.Timestamp("2025-01-01 11:00"),
    ]
    assert list(next_dates(hours, 2, calendar_for(hours, "XNYS"))) == [
        pd.Timestamp("2025-01-02 09:30"),  # hourly bars of XNYS start again at the open
        pd.Timestamp("2025-01-02 10:30"),
    ]

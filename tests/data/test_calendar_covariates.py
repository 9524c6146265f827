"""Calendar covariates (``calendar:XNYS``): on the row of day t, the next XNYS session after t,
checked against hand-computed dates and against exchange_calendars' own ``next_session``; a row
off the calendar or a missing session refused with its date; no row's columns read a later row."""

from __future__ import annotations

import warnings

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gatecast as gc
from gatecast.data.calendar_covariates import calendar_columns, session_values
from gatecast.data.covariates import (
    checked_groups,
    covariate_columns,
    covariate_group,
    covariate_values,
    join_covariates,
)
from gatecast.errors import ConfigError, DataError

COLS = list(calendar_columns("XNYS"))
TWO_PI_7 = 2 * np.pi / 7


def row(weekday: int, month_end: bool, days: int) -> list[float]:
    """The columns by hand: the next session's weekday (Monday 0), month end, days to it."""
    a = TWO_PI_7 * weekday
    return [np.sin(a), np.cos(a), float(month_end), float(days)]


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return gc.load("sp500").loc["2018-06":"2018-12"]


# hand-computed from the NYSE's holiday list
ORACLE = {
    # Friday before Labor Day (Monday 3 September): the next session is Tuesday, 4 days on
    "2018-08-31": row(1, False, 4),
    # Thursday 30 August: Friday 31 August is the last session of August
    "2018-08-30": row(4, True, 1),
    # Wednesday before Thanksgiving (Thursday 22 November): Friday 23 November, 2 days on
    "2018-11-21": row(4, False, 2),
    # Tuesday 4 December: Wednesday 5 December was closed (President Bush's funeral)
    "2018-12-04": row(3, False, 2),
    # Friday 28 December: Monday 31 December, the last session of 2018, 3 days on
    "2018-12-28": row(0, True, 3),
    # Monday 24 December: Christmas Tuesday closed, Wednesday 26 December, 2 days on
    "2018-12-24": row(2, False, 2),
    # an ordinary Tuesday
    "2018-10-16": row(2, False, 1),
}


def test_the_columns_match_hand_computed_dates(spx) -> None:
    joined, notes = join_covariates(spx, ["calendar:XNYS"])
    assert notes == [] and len(joined) == len(spx)  # nothing left out: sp500 is on XNYS
    for day, want in ORACLE.items():
        np.testing.assert_allclose(joined.loc[day, COLS].to_numpy(float), want, atol=1e-12)
    # the last session of 2018 describes Wednesday 2 January 2019 (New Year's Day closed)
    np.testing.assert_allclose(
        joined.loc["2018-12-31", COLS].to_numpy(float), row(2, False, 2), atol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=19_000))
def test_each_session_describes_exchange_calendars_next_session(k: int) -> None:
    """Against the package's own ``next_session`` (another code path than the arrays)."""
    cal = _xnys()
    t = cal.sessions[k]
    with warnings.catch_warnings():  # the package's own use of pandas deprecations
        warnings.simplefilter("ignore")
        nxt = cal.next_session(t)
        after = cal.next_session(nxt)
    got = session_values("XNYS").loc[t].to_numpy(float)
    want = row(nxt.day_of_week, nxt.month != after.month, (nxt - t).days)
    np.testing.assert_allclose(got, want, atol=1e-12)


_CAL: list[xc.ExchangeCalendar] = []


def _xnys() -> xc.ExchangeCalendar:
    if not _CAL:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CAL.append(xc.get_calendar("XNYS", start="1950-01-02"))
    return _CAL[0]


def test_the_group_is_declared_known_in_advance() -> None:
    group = covariate_group("calendar:XNYS")
    assert group.known_in_advance and not covariate_group("vix").known_in_advance
    assert covariate_columns(["calendar:XNYS"]) == tuple(COLS)
    assert checked_groups(["calendar:XNYS", "vix"]) == ("calendar:XNYS", "vix")
    values, missing = covariate_values("calendar:XNYS")
    assert missing == 0 and values.index[0] == pd.Timestamp("1950-01-02")


def test_an_unknown_exchange_is_refused_with_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"covariate 'calendar:XNYZ': calendar 'XNYZ' is unknown"):
        checked_groups(["calendar:XNYZ"])
    with pytest.raises(ConfigError, match=r"write calendar:EXCHANGE"):
        checked_groups(["calendar:"])
    with pytest.raises(ConfigError, match=r"calendar:EXCHANGE, e.g. calendar:XNYS"):
        covariate_group("calendar")  # the unknown-group message names the form


def test_a_row_off_the_calendar_is_refused_with_its_date(spx) -> None:
    extra = spx.iloc[[0]].copy()
    extra.index = pd.DatetimeIndex(["2018-09-03"], name=spx.index.name)  # Labor Day
    bad = pd.concat([spx, extra]).sort_index()
    with pytest.raises(
        DataError,
        match=r"1 row\(s\) of bundled dataset 'sp500' fall on days that are not XNYS sessions, "
        r"the first 2018-09-03 \(Monday\).*drop those rows, name the exchange the data",
    ):
        join_covariates(bad, ["calendar:XNYS"])


def test_a_missing_session_is_refused_naming_it(spx) -> None:
    gap = spx.drop(pd.Timestamp("2018-10-17"))
    with pytest.raises(
        DataError,
        match=r"no row for the XNYS session 2018-10-17 \(Wednesday\), between its rows "
        r"2018-10-16 and 2018-10-18 \(1 such gap\(s\)\).*fill the missing session",
    ):
        join_covariates(gap, ["calendar:XNYS"])


def test_another_exchange_is_refused(spx) -> None:
    # London trades on US holidays (Thanksgiving) and closes on its own (the August bank
    # holiday, Monday 27 August 2018, a NYSE session)
    with pytest.raises(ConfigError, match=r"follows the calendar XNYS"):
        join_covariates(spx, ["calendar:XLON"])  # the bundled S&P 500 says it follows XNYS
    own = spx.copy()
    own.attrs = {}
    with pytest.raises(DataError, match=r"not XLON sessions, the first 2018-08-27"):
        join_covariates(own, ["calendar:XLON"])


def test_intraday_or_undated_data_is_refused() -> None:
    bars = pd.DataFrame(
        {"close": 1.0 + np.arange(4)},
        index=pd.DatetimeIndex(
            ["2018-10-16 10:00", "2018-10-16 11:00", "2018-10-17 10:00", "2018-10-17 11:00"]
        ),
    )
    with pytest.raises(ConfigError, match=r"daily data; the data holds several bars a day"):
        join_covariates(bars, ["calendar:XNYS"])
    with pytest.raises(ConfigError, match=r"has no dates"):
        join_covariates(bars.reset_index(drop=True), ["calendar:XNYS"])


def test_data_past_the_calendars_end_is_refused() -> None:
    last = session_values("XNYS").index[-1]
    days = pd.DatetimeIndex(_xnys().sessions[-6:])
    data = pd.DataFrame({"close": np.arange(1.0, 7.0)}, index=days)
    with pytest.raises(DataError, match=rf"end too soon.*{last:%Y-%m-%d}"):
        join_covariates(data, ["calendar:XNYS"])


def test_a_row_never_reads_a_later_row(spx) -> None:
    """The columns of rows up to D are those of the data cut at D, and prices after D change
    nothing: they are the calendar's alone."""
    day = pd.Timestamp("2018-09-28")
    full, _ = join_covariates(spx, ["calendar:XNYS"])
    cut, _ = join_covariates(spx.loc[:day], ["calendar:XNYS"])
    moved = spx.copy()
    moved.loc[moved.index > day, ["open", "high", "low", "close"]] *= 1.5
    after, _ = join_covariates(moved, ["calendar:XNYS"])
    pd.testing.assert_frame_equal(full.loc[:day, COLS], cut[COLS])
    pd.testing.assert_frame_equal(full[COLS], after[COLS])
    # the last row of the cut data already describes the session after it (Monday 1 October)
    np.testing.assert_allclose(cut[COLS].iloc[-1].to_numpy(float), row(0, False, 3), atol=1e-12)


def test_daily_rows_stamped_at_a_time_of_day_join_by_their_day(spx) -> None:
    stamped = spx.copy()
    stamped.index = stamped.index + pd.Timedelta("16h")
    a, _ = join_covariates(spx, ["calendar:XNYS"])
    b, _ = join_covariates(stamped, ["calendar:XNYS"])
    np.testing.assert_array_equal(a[COLS].to_numpy(), b[COLS].to_numpy())


def test_the_joined_data_follows_the_exchange(spx) -> None:
    """The bars after the data are dated by the exchange the columns describe: a frame without
    a calendar takes it, one that follows another exchange is refused."""
    own = spx.copy()
    own.attrs = {}
    joined, _ = join_covariates(own, ["calendar:XNYS"])
    assert joined.attrs["calendar"] == "XNYS"
    assert "calendar" not in join_covariates(own, [])[0].attrs
    own.attrs["calendar"] = "XLON"
    with pytest.raises(ConfigError, match=r"follows the calendar XLON.*name one exchange"):
        join_covariates(own, ["calendar:XNYS"])


def test_a_streams_tick_gets_the_columns_from_its_date() -> None:
    from gatecast.data.calendar_covariates import tick_filler

    assert tick_filler(["vix", "file:x.csv:a"]) is None
    fill = tick_filler(["vix", "calendar:XNYS"])
    assert fill is not None
    row = fill(2901.5, "2018-08-31")
    assert row["price"] == 2901.5
    np.testing.assert_allclose([row[c] for c in COLS], ORACLE["2018-08-31"], atol=1e-12)
    # a tick's own values of the columns are the calendar's
    row = fill({"close": 1.0, "vix_log": 2.0, COLS[-1]: 99.0}, pd.Timestamp("2018-08-30 16:00"))
    assert (row["close"], row["vix_log"], row[COLS[-1]]) == (1.0, 2.0, 1.0)
    with pytest.raises(DataError, match=r"2018-09-03 \(Monday\) is not a session of XNYS"):
        fill(1.0, "2018-09-03")
    with pytest.raises(DataError, match=r"give the row a date"):
        fill(1.0, None)

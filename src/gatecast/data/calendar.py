"""The data's own calendar: the dates that come after the last row (for tomorrow's forecast)."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from gatecast.errors import ConfigError


def next_dates(index: pd.Index, n: int = 1) -> pd.Index:
    """The ``n`` dates after the last entry of ``index``, in the data's calendar.

    Daily trading data (business days with holidays missing) continue on business days, skipping
    a fixed-date holiday the data itself never trades on (a month-day such as 1 January or 25
    December that was a weekday in at least three whole years of the data and never traded): the day after Friday
    2018-12-28 is Monday 2018-12-31, and after it comes 2019-01-02. Any other regular frequency
    pandas can infer (calendar days, weeks, months, hours) continues at that frequency. An
    integer index continues with the next integers.

    Examples
    --------
    >>> [str(d.date()) for d in next_dates(pd.DatetimeIndex(["2018-12-27", "2018-12-28"]))]
    ['2018-12-31']
    >>> list(next_dates(pd.RangeIndex(5), 2))
    [5, 6]
    """
    if n < 1:
        raise ConfigError(f"n={n}: must be >= 1")
    if len(index) == 0:
        raise ConfigError("an empty index has no next date")
    last = index[-1]
    if isinstance(index, pd.DatetimeIndex):
        offset = _regular_offset(index)
        if offset is not None:
            regular: pd.Index = pd.DatetimeIndex(
                [last + k * offset for k in range(1, n + 1)], name=index.name
            )
            return regular
        closed = _fixed_holidays(index)
        out: list[pd.Timestamp] = []
        day = last
        while len(out) < n:
            day = day + pd.offsets.BDay()
            if (day.month, day.day) not in closed:
                out.append(day)
        business: pd.Index = pd.DatetimeIndex(out, name=index.name)
        return business
    if pd.api.types.is_integer_dtype(index.dtype):
        ints: pd.Index = pd.Index(
            [int(last) + k for k in range(1, n + 1)], name=index.name, dtype="int64"
        )
        return ints
    raise ConfigError(
        f"cannot tell the date after {last!r}: the index is neither dates nor integers"
    )


def _regular_offset(index: pd.DatetimeIndex) -> pd.DateOffset | None:
    """The index's frequency when it is regular and not business days, else None."""
    freq: Any = index.freq
    if freq is None and len(index) >= 3:
        with warnings.catch_warnings():  # pandas 3 changes what infer_freq returns; both work
            warnings.simplefilter("ignore")
            freq = pd.infer_freq(index[-50:])
    if freq is None:
        return None
    offset: pd.DateOffset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.BusinessDay | pd.offsets.CustomBusinessDay):
        return None  # business days: go on with the holiday-aware rule
    if isinstance(offset, pd.offsets.Day) and not (index.day_of_week >= 5).any():
        return None  # a few consecutive weekdays look daily; a series without weekends is not
    return offset


def _fixed_holidays(index: pd.DatetimeIndex) -> set[tuple[int, int]]:
    """Month-days that were weekdays in at least three whole years of ``index`` and were never
    traded on in any of them."""
    years = sorted(set(index.year))[1:-1]  # whole years only
    if len(years) < 3:
        return set()
    days = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-31")
    days = days[days.day_of_week < 5]
    frame = pd.DataFrame(
        {
            "month": days.month,
            "day": days.day,
            "traded": days.isin(index.normalize().tz_localize(None)),
        }
    )
    stats = frame.groupby(["month", "day"])["traded"].agg(["size", "any"])
    closed = stats[(stats["size"] >= 3) & ~stats["any"]]
    return {(int(m), int(d)) for m, d in closed.index}

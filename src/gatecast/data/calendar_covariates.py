"""Calendar covariates: on the row of day t, what an exchange's calendar says of the next session
after t, the day the forecast made at t's close is for; known at t's close, because the
calendar is fixed in advance.

The covariate spec ``calendar:EXCHANGE`` (``calendar:XNYS``) gives four columns, named after the
exchange (``xnys_...``): the day of the week of the next session as a point on a circle of seven
days (``_next_weekday_sin``, ``_next_weekday_cos``; Monday is (0, 1)), whether the next session
is the last of its month (``_next_month_end``, 1 or 0) and the calendar days from t to it
(``_days_to_next``: 1 within the week, 3 over a weekend, 4 over a long weekend).

The columns describe the *calendar's* next session, so they are right only where the data's next
row is that session: :func:`check_sessions` refuses a row on a day that is no session and a
session missing from the data, naming the date."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.calendar import _DAY_NS, _ns, _sessions, check_exchange
from gatecast.data.sources import _fmt_date, normalise_name
from gatecast.errors import ConfigError, DataError

#: The prefix of a covariate spec naming an exchange's calendar: ``calendar:EXCHANGE``.
CALENDAR = "calendar:"
_SYNTAX = "calendar:EXCHANGE with an exchange code of exchange_calendars, e.g. calendar:XNYS"


def calendar_exchange(spec: str) -> str:
    """The exchange code of the covariate spec ``calendar:EXCHANGE`` (checked: an unknown code
    is refused, suggesting the nearest)."""
    code = spec[len(CALENDAR) :].strip()
    if not code:
        raise ConfigError(f"covariate {spec!r}: write {_SYNTAX}")
    try:
        check_exchange(code)
    except ConfigError as exc:
        raise ConfigError(f"covariate {spec!r}: {exc}") from None
    return code


def calendar_columns(exchange: str) -> tuple[str, ...]:
    """The columns of ``calendar:EXCHANGE``, in order.

    Examples
    --------
    >>> calendar_columns("XNYS")
    ('xnys_next_weekday_sin', 'xnys_next_weekday_cos', 'xnys_next_month_end', 'xnys_days_to_next')
    """
    p = normalise_name(exchange) or "exchange"
    return (
        f"{p}_next_weekday_sin",
        f"{p}_next_weekday_cos",
        f"{p}_next_month_end",
        f"{p}_days_to_next",
    )


def _describe(days: np.ndarray, after: np.ndarray, later: np.ndarray) -> np.ndarray:
    """The columns for sessions ``days`` (ns) whose next session is ``after`` and the one after
    that ``later`` (which tells whether ``after`` ends its month)."""
    nxt = pd.DatetimeIndex(after)
    # Monday 0 .. Sunday 6 on a circle of 7: Friday and the Monday after are 3 days apart
    angle = 2.0 * np.pi * nxt.day_of_week.to_numpy(dtype=float) / 7.0
    month_end = nxt.month.to_numpy() != pd.DatetimeIndex(later).month.to_numpy()
    gap = (after - days) // _DAY_NS
    return np.column_stack(
        [np.sin(angle), np.cos(angle), month_end.astype(float), gap.astype(float)]
    )


@functools.lru_cache(maxsize=8)
def _values(exchange: str) -> pd.DataFrame:
    days = _sessions(exchange).days
    out: pd.DataFrame = pd.DataFrame(
        _describe(days[:-2], days[1:-1], days[2:]),
        index=pd.DatetimeIndex(days[:-2]),
        columns=list(calendar_columns(exchange)),
    )
    return out


def session_values(exchange: str) -> pd.DataFrame:
    """The columns of ``calendar:EXCHANGE`` on every session of ``exchange`` (the index, its
    days): on the row of session t, the next session after t. The last two sessions that
    ``exchange_calendars`` knows are left out (the session after them is not known).

    Examples
    --------
    >>> v = session_values("XNYS")
    >>> v.loc["2024-08-30"].tolist()   # Friday; Monday 2 September is Labor Day
    [0.7818314824680298, 0.6234898018587336, 0.0, 4.0]
    """
    values: pd.DataFrame = _values(exchange).copy()
    return values


def check_sessions(dates: pd.Index, exchange: str, spec: str, where: str = "the data") -> None:
    """Refuse ``dates`` (a series' index) for the covariate ``spec`` (``calendar:EXCHANGE``)
    unless each row from the calendar's first session on is a session of ``exchange`` and the
    row after it is the next session: a row on another day, or a session missing from the data,
    would make the columns describe a day that is not the one the row's forecast is for.

    Raises
    ------
    ConfigError
        Data without dates, or intraday bars (the columns describe the next session, and an
        intraday bar's forecast is for the next bar).
    DataError
        The first row off the calendar, or the first missing session, with its date and what
        to do.
    """
    if not isinstance(dates, pd.DatetimeIndex):
        raise ConfigError(
            f"covariate {spec!r} describes the next {exchange} session of each dated row; "
            f"{where} has no dates (an integer index)"
        )
    local = dates.tz_localize(None) if dates.tz is not None else dates
    days = _ns(local.normalize())
    if len(days) > 1 and (days[1:] == days[:-1]).any():
        raise ConfigError(
            f"covariate {spec!r} describes the next session of daily data; {where} holds "
            f"several bars a day (the first on {_fmt_date(local[int(np.argmax(days[1:] == days[:-1]))])}): "
            f"resample it to one row a session, or leave the covariate out"
        )
    sessions = _sessions(exchange).days
    covered = (days >= sessions[0]) & (days <= sessions[-1])
    pos = np.searchsorted(sessions, days)
    on = covered & (sessions[np.minimum(pos, len(sessions) - 1)] == days)
    off = covered & ~on
    fix = (
        "name the exchange the data trades on (calendar:XLON, ...: the exchange its "
        "--calendar names), or leave the covariate out"
    )
    if off.any():
        first = pd.Timestamp(days[int(np.argmax(off))])
        raise DataError(
            f"covariate {spec!r}: {int(off.sum())} row(s) of {where} fall on days that are not "
            f"{exchange} sessions, the first {_fmt_date(first)} ({first.day_name()}): their "
            f"calendar columns would describe the wrong day; drop those rows, {fix}"
        )
    p = pos[covered]
    skip = np.diff(p) > 1
    if skip.any():
        k = int(np.argmax(skip))
        row = pd.DatetimeIndex(days[covered])
        missing = pd.Timestamp(sessions[p[k] + 1])
        raise DataError(
            f"covariate {spec!r}: {where} has no row for the {exchange} session "
            f"{_fmt_date(missing)} ({missing.day_name()}), between its rows "
            f"{_fmt_date(row[k])} and {_fmt_date(row[k + 1])} ({int(skip.sum())} such gap(s)): "
            f"the row of {_fmt_date(row[k])} would describe {_fmt_date(missing)} while its "
            f"forecast is for {_fmt_date(row[k + 1])}; fill the missing session(s) in the data "
            f"(a row a session), {fix}"
        )


def on_sessions(dates: pd.Index, values: pd.DataFrame) -> pd.DataFrame:
    """``values`` (indexed by session days) on the rows ``dates`` by their day, exactly: a row
    whose day has no value gets NaN (never the value of an earlier day)."""
    assert isinstance(dates, pd.DatetimeIndex)
    local = dates.tz_localize(None) if dates.tz is not None else dates
    key = pd.DatetimeIndex(local.normalize()).as_unit("ns")
    right = values.copy()
    right.index = pd.DatetimeIndex(right.index).as_unit("ns")
    out: pd.DataFrame = right.reindex(key)
    out.index = pd.DatetimeIndex(dates, name=dates.name)
    return out


def tick_filler(groups: Iterable[str]) -> Callable[[Any, Any], Any] | None:
    """For a stream of a model that reads the covariate groups ``groups``: a function of a tick
    and its date that returns the tick as a mapping with the columns of each calendar group
    added, computed from the date alone (a tick's own values of those columns are replaced by
    the calendar's); None when no group is a calendar's.

    A tick without a date, or dated on a day that is no session of the exchange, is refused
    (a :class:`DataError` naming the date), the stream unchanged.
    """
    exchanges = [calendar_exchange(g) for g in groups if str(g).startswith(CALENDAR)]
    if not exchanges:
        return None

    def fill(tick: Any, at: Any) -> Any:
        if at is None or isinstance(at, int | np.integer):
            raise DataError(
                f"the model reads the calendar covariate(s) "
                f"{', '.join(CALENDAR + e for e in exchanges)}, computed from each row's date: "
                f"give the row a date (a date column, or update(row, at=date))"
            )
        when = pd.Timestamp(at)
        day = (when.tz_localize(None) if when.tz is not None else when).normalize()
        row = dict(tick) if isinstance(tick, Mapping | pd.Series) else {"price": tick}
        for exchange in exchanges:
            values = _values(exchange)
            if day not in values.index:
                raise DataError(
                    f"the row of {_fmt_date(day)} ({day.day_name()}) is not a session of "
                    f"{exchange} that exchange_calendars knows (with the session after it), and "
                    f"the model reads {CALENDAR}{exchange}: send rows of {exchange} sessions "
                    f"only; the stream is unchanged"
                )
            row.update(values.loc[day].to_dict())
        return row

    return fill


def forecast_calendar(groups: Iterable[str], calendar: str | None) -> str | None:
    """The calendar that dates the forecast of a model reading the covariate groups ``groups``,
    given the ``calendar`` asked for (``--calendar``; None: not asked): a calendar group's
    exchange when none is asked, the one asked otherwise. A calendar group's columns describe
    its exchange's next session, so another calendar would date the forecast on a day they do
    not describe: refused, naming both."""
    exchanges = sorted({calendar_exchange(g) for g in groups if str(g).startswith(CALENDAR)})
    if not exchanges:
        return calendar
    if len(exchanges) > 1:  # the join refuses this at fit; a folder written by hand may hold it
        raise ConfigError(
            f"the model reads the calendar covariates of {', '.join(exchanges)}: one forecast "
            f"date cannot be the next session of each; retrain with one calendar group"
        )
    if calendar is None or calendar == exchanges[0]:
        return exchanges[0]
    raise ConfigError(
        f"--calendar {calendar}: the model reads the calendar covariate {CALENDAR}{exchanges[0]}, "
        f"whose columns describe the next {exchanges[0]} session, so the forecast is for that "
        f"day; leave --calendar out (or give {exchanges[0]})"
    )

"""Trading calendars: where a series' bars fall (an exchange's sessions, or the data's own rhythm),
the bars after the last one, and how many bars make a year."""

from __future__ import annotations

import difflib
import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError, DataError

#: The data's own calendar: the days (and, for intraday bars, the hours) the series itself trades.
DATA = "data"
#: ``Calendar.freq`` of an undated series (an integer index): rows are counted, not dated.
UNDATED = "rows"
#: Business days a year, the convention where the data is too short to count them (252 is what
#: US and European exchanges keep after their weekday holidays).
BUSINESS_DAYS_A_YEAR = 252.0
#: The first day an exchange's sessions are built from (older data is refused by date).
EXCHANGE_START = "1950-01-01"
_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class Calendar:
    """Where a series' bars fall, so that the bars after the last one can be dated.

    ``name`` is an exchange code of the ``exchange_calendars`` package (``XNYS``, ``XLON``,
    ``XTKS``, ``24/7``, ...) or ``"data"``, the data's own calendar. Timestamps are read as the
    local wall-clock time of the exchange (New York time for ``XNYS``).

    Parameters
    ----------
    name
        An exchange code, or ``"data"``.
    freq
        The data's own calendar only: a regular frequency its bars follow (``"D"`` every calendar
        day, ``"W-FRI"``, ``"MS"``, ``"5min"`` for round-the-clock bars), :data:`UNDATED` for an
        integer index, or None: trading days, i.e. business days less ``closed``.
    closed
        The data's own trading days: (month, day) pairs it never trades on (e.g. 1 January).
    bar
        Intraday bars: their length (``"1min"``, ``"5min"``, ``"h"``); None: one bar a day (a
        session, for an exchange).
    session
        Intraday bars on the data's own trading days: the time of day of the first and the last
        bar (``("09:30", "15:55")``).
    label
        Intraday bars on an exchange: stamped at the ``"start"`` or the ``"end"`` of the
        interval they cover (an end-stamped day ends with a bar at the close).

    Examples
    --------
    >>> xnys = Calendar("XNYS")
    >>> [str(d.date()) for d in xnys.after(pd.Timestamp("2024-12-31"), 2)]
    ['2025-01-02', '2025-01-03']
    >>> Calendar("XNYS", bar="5min").after(pd.Timestamp("2024-12-31 15:55"), 1)
    [Timestamp('2025-01-02 09:30:00')]
    """

    name: str = DATA
    freq: str | None = None
    closed: tuple[tuple[int, int], ...] = ()
    bar: str | None = None
    session: tuple[str, str] | None = None
    label: str = "start"

    def __post_init__(self) -> None:
        if self.name != DATA:
            check_exchange(self.name)
            if self.freq is not None or self.closed or self.session is not None:
                raise ConfigError(
                    f"calendar {self.name}: freq, closed and session describe the data's own "
                    f"calendar; an exchange has its own sessions"
                )
        if self.label not in ("start", "end"):
            raise ConfigError(f"label {self.label!r}: bars are stamped at their 'start' or 'end'")
        if self.freq is not None and self.freq != UNDATED:
            _offset(self.freq, "freq")
        if self.bar is not None:
            step = _offset(self.bar, "bar")
            if not isinstance(step, pd.offsets.Tick) or pd.Timedelta(step) >= pd.Timedelta("1D"):
                raise ConfigError(f"bar {self.bar!r}: an intraday bar lasts less than a day")
        for m, d in self.closed:
            pd.Timestamp(2000, m, d)  # a ValueError for a day no year has
        if self.session is not None:
            first, last = (_time_of_day(t) for t in self.session)
            if not pd.Timedelta(0) <= first <= last < pd.Timedelta("1D") or self.bar is None:
                raise ConfigError(
                    f"session {self.session}: the first and last intraday bar's time of day, "
                    f"in order, with a bar length"
                )

    # -- what the calendar is -------------------------------------------------------------------
    @property
    def exchange(self) -> bool:
        """Whether the sessions are an exchange's (not the data's own)."""
        return self.name != DATA

    @property
    def dated(self) -> bool:
        """Whether the calendar dates bars (an undated series only counts them)."""
        return self.freq != UNDATED

    @property
    def intraday(self) -> bool:
        """Whether a day holds several bars."""
        if self.bar is not None:
            return True
        if self.freq is None or self.freq == UNDATED:
            return False
        step = _offset(self.freq, "freq")
        return isinstance(step, pd.offsets.Tick) and pd.Timedelta(step) < pd.Timedelta("1D")

    def describe(self) -> str:
        """E.g. ``XNYS sessions``, ``XNYS 5min bars``, ``the data's own trading days``."""
        if self.exchange:
            return f"{self.name} {self.bar} bars" if self.bar else f"{self.name} sessions"
        if self.freq == UNDATED:
            return "undated rows"
        if self.freq is not None:
            return f"the data's own {self.freq} rhythm"
        if self.bar is not None:
            assert self.session is not None
            return f"the data's own {self.bar} bars ({self.session[0]}-{self.session[1]})"
        return "the data's own trading days"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (what a model manifest's ``calendar`` holds); defaults left out."""
        out: dict[str, Any] = {"name": self.name}
        if self.freq is not None:
            out["freq"] = self.freq
        if self.closed:
            out["closed"] = [list(md) for md in self.closed]
        if self.bar is not None:
            out["bar"] = self.bar
        if self.session is not None:
            out["session"] = list(self.session)
        if self.label != "start":
            out["label"] = self.label
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Calendar:
        """The calendar :meth:`to_dict` wrote; a ValueError (ConfigError) naming the fault."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("name"), str):
            raise ConfigError(f"calendar {doc!r} is not an object with a name")
        unknown = set(doc) - {"name", "freq", "closed", "bar", "session", "label"}
        if unknown:
            raise ConfigError(f"calendar {dict(doc)!r} has unknown keys {sorted(unknown)}")
        closed = doc.get("closed", [])
        session = doc.get("session")
        try:
            return cls(
                name=doc["name"],
                freq=_text(doc.get("freq")),
                closed=tuple((int(m), int(d)) for m, d in closed),
                bar=_text(doc.get("bar")),
                session=(str(session[0]), str(session[1])) if session is not None else None,
                label=str(doc.get("label", "start")),
            )
        except (TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"calendar {dict(doc)!r} is malformed ({exc})") from None

    # -- the bars after one ---------------------------------------------------------------------
    def after(self, last: Any, n: int = 1) -> list[Any]:
        """The ``n`` bars after ``last`` (a Timestamp; an int continues with the next ints).

        A daily calendar dates by the day (``last``'s time of day is ignored); an intraday one
        goes on within the session, then to the first bar of the next session.
        """
        if n < 1:
            raise ConfigError(f"n={n}: must be >= 1")
        if isinstance(last, int | np.integer) and not isinstance(last, bool):
            return [int(last) + k for k in range(1, n + 1)]
        if not self.dated:
            raise ConfigError(
                "this calendar counts undated rows (the model was trained on an integer index); "
                "pass a calendar (--calendar XNYS, or data) to date bars"
            )
        last = pd.Timestamp(last)
        days = self._days_after(last, n)
        if days is not None:
            return [pd.Timestamp(v) for v in days.tolist()]
        if self.exchange:
            return _sessions(self.name).after(last, n, self.bar, self.label)
        if self.freq is not None:
            step = _offset(self.freq, "freq")
            return [last + k * step for k in range(1, n + 1)]
        if self.bar is not None:
            return self._own_bars_after(last, n)
        out: list[pd.Timestamp] = []
        day = last.normalize()
        while len(out) < n:
            day = self._next_day(day)
            out.append(day)
        return out

    def _next_day(self, day: pd.Timestamp) -> pd.Timestamp:
        while True:
            day = day + pd.offsets.BDay()
            if (day.month, day.day) not in self.closed:
                return day

    def _own_bars_after(self, last: pd.Timestamp, n: int) -> list[pd.Timestamp]:
        assert self.session is not None and self.bar is not None
        step = _step(self.bar)
        first, final = (_time_of_day(t) for t in self.session)
        out: list[pd.Timestamp] = []
        t = last
        while len(out) < n:
            day = t.normalize()
            trading = day.day_of_week < 5 and (day.month, day.day) not in self.closed
            if trading and t < day + first:
                t = day + first  # before the day's first bar
            elif trading and t + step <= day + final:
                t = t + step
            else:
                t = self._next_day(day) + first
            out.append(t)
        return out

    def _days_after(self, last: pd.Timestamp, n: int) -> np.ndarray | None:
        """The ``n`` days (ns) after ``last`` of a daily calendar kept as an array (an exchange's
        sessions, the data's trading days), a binary search away; None for the others."""
        if self.bar is not None or self.freq is not None:
            return None
        if self.exchange:
            return _sessions(self.name).days_after(last, n)
        days = _trading_days(self.closed)
        try:
            t = _day_ns(last)
        except OverflowError:
            return None
        i = int(days.searchsorted(t, side="right"))
        if i == 0 or i + n > len(days):
            return None  # outside the years kept: day by day
        return days[i : i + n]

    def bars_between(self, last: Any, row: Any, most: int) -> tuple[list[Any], bool]:
        """The bars strictly between ``last`` and ``row`` (up to ``most`` of them), and whether
        ``row`` lies beyond the ``most + 1``-th bar after ``last`` (more than ``most`` missing)."""
        if not isinstance(row, int) and not isinstance(last, int):
            days = self._days_after(pd.Timestamp(last), most + 1)
            if days is not None:  # the common case in integers: a stream checks every row
                key = _day_ns(pd.Timestamp(row))
                if key <= days[0]:
                    return [], False
                return [pd.Timestamp(v) for v in days[days < key].tolist()], key > days[-1]
        ahead = self.after(last, most + 1)
        key = row if isinstance(row, int) or self.intraday else pd.Timestamp(row).normalize()
        return [b for b in ahead if b < key], key > ahead[-1]


def _day_ns(t: pd.Timestamp) -> int:
    """The ns since 1970 of ``t``'s day (an OverflowError past 2262)."""
    v: int = t.value
    return v - v % _DAY_NS


@functools.lru_cache(maxsize=8)
def _trading_days(closed: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Business days less the ``closed`` month-days, 1900 to 2260, as ns since 1970."""
    days = pd.bdate_range("1900-01-01", "2260-12-31")
    if closed:
        md = days.month * 100 + days.day
        days = days[~np.isin(md, [m * 100 + d for m, d in closed])]
    return _ns(days)


def _time_of_day(text: str) -> pd.Timedelta:
    """``"09:30"`` (or ``"09:30:15"``) as the time since midnight."""
    since: pd.Timedelta = pd.Timedelta(text + ":00" if text.count(":") == 1 else text)
    return since


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _offset(text: str, what: str) -> Any:
    """A frequency's pandas offset (``5min``, ``D``, ``W-FRI``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' deprecated aliases still mean what they say
            return pd.tseries.frequencies.to_offset(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a frequency such as D, W-FRI, 5min") from None


def _step(bar: str) -> pd.Timedelta:
    """An intraday bar's length."""
    step: pd.Timedelta = pd.Timedelta(_offset(bar, "bar"))
    return step


# -- exchanges: the sessions of the exchange_calendars package -----------------------------------


@functools.lru_cache(maxsize=1)
def exchange_names() -> tuple[str, ...]:
    """The exchange codes (and aliases) ``exchange_calendars`` knows."""
    import exchange_calendars as xc

    return tuple(xc.get_calendar_names(include_aliases=True))


def check_exchange(name: str) -> None:
    """A :class:`ConfigError` unless ``name`` is an exchange code ``exchange_calendars`` knows,
    suggesting the nearest codes."""
    names = exchange_names()
    if name in names:
        return
    close = difflib.get_close_matches(name.upper(), names, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(
        f"calendar {name!r} is unknown{hint}: give an exchange code such as XNYS, XLON, XTKS, "
        f"24/7 (see exchange_calendars.get_calendar_names()), or 'data' for the data's own calendar"
    )


class _Sessions:
    """An exchange's sessions as arrays of local wall-clock nanoseconds: the session days, their
    opens, closes and (NaT-free) breaks, so that the next bar is a binary search away."""

    def __init__(self, name: str) -> None:
        import exchange_calendars as xc

        with warnings.catch_warnings():  # the package's own use of pandas deprecations
            warnings.simplefilter("ignore")
            try:
                cal = xc.get_calendar(name, start=EXCHANGE_START)
            except Exception:  # a calendar whose history starts later: its own earliest day
                cal = xc.get_calendar(name, start=type(xc.get_calendar(name)).bound_min())
        self.name = name

        def local(s: pd.Series) -> np.ndarray:
            return _ns(pd.DatetimeIndex(s).tz_convert(cal.tz).tz_localize(None))

        self.days = _ns(pd.DatetimeIndex(cal.sessions))
        self.opens, self.closes = local(cal.opens), local(cal.closes)
        starts, ends = cal.break_starts, cal.break_ends
        has = np.asarray(starts.notna()) & np.asarray(ends.notna())
        self.break_start = np.where(has, local(starts.fillna(cal.opens)), self.closes)
        self.break_end = np.where(has, local(ends.fillna(cal.opens)), self.closes)
        self.first, self.final = pd.Timestamp(self.days[0]), pd.Timestamp(self.days[-1])

    def _session(self, t: int) -> int:
        """The first session that has not closed by ``t`` (its close at or after ``t``)."""
        j = int(np.searchsorted(self.closes, t, side="left"))
        if j >= len(self.closes) or t < self.opens[0] - _DAY_NS:
            self._out_of_range(pd.Timestamp(t))
        return j

    def _out_of_range(self, t: pd.Timestamp) -> None:
        raise DataError(
            f"{t} is outside the {self.name} sessions that exchange_calendars knows "
            f"({self.first.date()} to {self.final.date()}); use dates in that range, or "
            f"--calendar data"
        )

    def days_after(self, last: pd.Timestamp, n: int) -> np.ndarray:
        """The ``n`` sessions (ns) after ``last``'s day."""
        try:
            t = _day_ns(last)
        except OverflowError:
            self._out_of_range(last)
        i = int(self.days.searchsorted(t, side="right"))
        if i + n > len(self.days) or (i == 0 and last < self.first - pd.Timedelta("7D")):
            self._out_of_range(last)
        days: np.ndarray = self.days[i : i + n]
        return days

    def after(self, last: pd.Timestamp, n: int, bar: str | None, label: str) -> list[pd.Timestamp]:
        if bar is None:  # one bar a session, dated by its day
            return [pd.Timestamp(v) for v in self.days_after(last, n).tolist()]
        step = _step(bar).as_unit("ns").value
        out: list[pd.Timestamp] = []
        t = last.as_unit("ns").value
        for _ in range(n):
            t = self._next_bar(t, step, label == "end")
            out.append(pd.Timestamp(t))
        return out

    def _next_bar(self, t: int, step: int, end: bool) -> int:
        j = self._session(t)
        if t < self.opens[j]:  # before the session: its first bar
            return int(self.opens[j] + (step if end else 0))
        nxt = t + step
        bs, be = self.break_start[j], self.break_end[j]
        if bs < be and (bs < nxt <= be if end else bs <= nxt < be):
            nxt = int(be + (step if end else 0))  # the lunch break holds no bar
        if nxt <= self.closes[j] if end else nxt < self.closes[j]:
            return int(nxt)
        if j + 1 >= len(self.opens):
            self._out_of_range(pd.Timestamp(nxt))
        return int(self.opens[j + 1] + (step if end else 0))

    def inside(self, stamps: np.ndarray, end: bool) -> np.ndarray:
        """Whether each local timestamp (ns) falls in a session (bars stamped at their end may
        sit on the close, bars stamped at their start on the open)."""
        j = np.searchsorted(self.closes, stamps, side="left")
        ok = j < len(self.closes)
        j = np.minimum(j, len(self.closes) - 1)
        o, c = self.opens[j], self.closes[j]
        return ok & ((o < stamps) & (stamps <= c) if end else (o <= stamps) & (stamps < c))

    def on_close(self, stamps: np.ndarray) -> np.ndarray:
        j = np.minimum(np.searchsorted(self.closes, stamps, side="left"), len(self.closes) - 1)
        return np.asarray(self.closes[j] == stamps)

    def bars_in(self, j0: int, j1: int, step: int, end: bool) -> np.ndarray:
        """Bars in each of the sessions j0..j1-1 (breaks left out)."""
        span = (self.closes[j0:j1] - self.opens[j0:j1]) - (
            self.break_end[j0:j1] - self.break_start[j0:j1]
        )
        return np.asarray(span // step if end else -(-span // step), dtype=float)


@functools.lru_cache(maxsize=16)
def _sessions(name: str) -> _Sessions:
    return _Sessions(name)


# -- a calendar for a series ---------------------------------------------------------------------


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Nanoseconds since 1970 (pandas 3 keeps parsed dates in microseconds)."""
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def _is_dates(index: pd.Index) -> bool:
    return isinstance(index, pd.DatetimeIndex)


def _intraday(index: pd.DatetimeIndex) -> bool:
    """Whether some day holds two bars."""
    days = _ns(index.normalize())
    return bool((days[1:] == days[:-1]).any())


def _bar_of(index: pd.DatetimeIndex) -> str:
    """The most common step between consecutive bars of one day, as a frequency (``5min``)."""
    steps = np.diff(_ns(index))
    steps = steps[(steps > 0) & (steps < _DAY_NS)]
    if len(steps) == 0:
        raise DataError("the data has no two bars on one day, so no bar length can be told")
    values, counts = np.unique(steps, return_counts=True)
    freq: str = pd.tseries.frequencies.to_offset(
        pd.Timedelta(int(values[np.argmax(counts)]))
    ).freqstr
    return freq


def _clock(ns: int) -> str:
    t = pd.Timedelta(int(ns))
    h, rem = divmod(int(t.total_seconds()), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _mode(values: np.ndarray) -> int:
    v, c = np.unique(values, return_counts=True)
    return int(v[np.argmax(c)])


def own_calendar(index: pd.Index) -> Calendar:
    """The data's own calendar, learnt from its index (see :func:`next_dates`)."""
    if len(index) == 0:
        raise ConfigError("an empty index has no calendar")
    if not _is_dates(index):
        if pd.api.types.is_integer_dtype(index.dtype):
            return Calendar(DATA, freq=UNDATED)
        raise ConfigError(
            f"cannot tell the date after {index[-1]!r}: the index is neither dates nor integers"
        )
    assert isinstance(index, pd.DatetimeIndex)
    if _intraday(index):
        steps = np.diff(_ns(index))
        if len(steps) and (steps == steps[0]).all():  # round the clock, no gap: regular
            return Calendar(DATA, freq=_bar_of(index))
        bar = _bar_of(index)
        days = index.normalize()
        first = _ns(index) - _ns(days)
        d = _ns(days)
        starts = np.r_[True, d[1:] != d[:-1]]
        ends = np.r_[d[1:] != d[:-1], True]
        session = (_clock(_mode(first[starts])), _clock(_mode(first[ends])))
        return Calendar(DATA, closed=_sorted(_fixed_holidays(index)), bar=bar, session=session)
    offset = _regular_offset(index)
    if offset is not None:
        return Calendar(DATA, freq=offset.freqstr)
    return Calendar(DATA, closed=_sorted(_fixed_holidays(index)))


def _sorted(days: set[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(days))


def calendar_for(index: pd.Index, name: str | None = None) -> Calendar:
    """The calendar ``name`` fitted to a series' index: the data's own (``"data"`` or None)
    learnt from it, or an exchange's with the bar length (and stamping) of intraday bars.

    Examples
    --------
    >>> calendar_for(pd.DatetimeIndex(["2024-12-30", "2024-12-31"]), "XNYS")
    Calendar(name='XNYS', freq=None, closed=(), bar=None, session=None, label='start')
    """
    if name is None or name == DATA:
        return own_calendar(index)
    check_exchange(name)
    if not _is_dates(index) or len(index) == 0:
        raise ConfigError(
            f"calendar {name} dates bars, and this data has no dates (an integer index); use "
            f"--calendar data"
        )
    assert isinstance(index, pd.DatetimeIndex)
    if not _intraday(index):
        return Calendar(name)
    bar = _bar_of(index)
    # bars stamped at their end put one on the close of most days (early closes included)
    days = len(np.unique(_ns(index.normalize())))
    end = int(_sessions(name).on_close(_ns(index)).sum()) > days / 2
    return Calendar(name, bar=bar, label="end" if end else "start")


def check_calendar(index: pd.Index, calendar: Calendar) -> str | None:
    """A note when some rows of ``index`` fall outside ``calendar``'s sessions (None if none);
    a :class:`DataError` when most do (the wrong calendar, or timestamps in another time zone)."""
    if not calendar.exchange or not _is_dates(index) or len(index) == 0:
        return None
    assert isinstance(index, pd.DatetimeIndex)
    sessions = _sessions(calendar.name)
    if calendar.bar is None:
        stamps = _ns(index.normalize())
        inside = np.isin(stamps, sessions.days)
        what = "days"
    else:
        stamps = _ns(index)
        inside = sessions.inside(stamps, calendar.label == "end")
        what = "times"
    off = int((~inside).sum())
    if off == 0:
        return None
    first = pd.Timestamp(stamps[int(np.argmax(~inside))])
    shown = first.date().isoformat() if first == first.normalize() else f"{first:%Y-%m-%d %H:%M}"
    text = (
        f"{off} of {len(index)} rows fall on {what} outside the {calendar.name} sessions "
        f"(the first {shown}; timestamps are read as {calendar.name}'s local time)"
    )
    if off > len(index) / 2:
        raise DataError(
            f"{text}: this data does not follow {calendar.name}; pass the instrument's "
            f"exchange (--calendar XLON, ...) or --calendar data"
        )
    return text


# -- the dates after a series, and its bars per year ----------------------------------------------


def next_dates(index: pd.Index, n: int = 1, calendar: Calendar | None = None) -> pd.Index:
    """The ``n`` dates after the last entry of ``index``, in ``calendar`` (default: the data's own).

    The data's own calendar: daily trading data (business days with holidays missing)
    continue on business days, skipping a fixed-date holiday the data itself never trades on (a
    month-day such as 1 January or 25 December that was a weekday in at least three whole years
    of the data and never traded): the day after Friday 2018-12-28 is Monday 2018-12-31, and
    after it comes 2019-01-02. Any other regular frequency pandas can infer (calendar days,
    weeks, months, round-the-clock hours) continues at that frequency. Intraday bars with a
    session continue within the day's session, then at the first bar of the next trading day.
    An integer index continues with the next integers. An exchange's calendar (``XNYS``) dates
    by its sessions.

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
    if not _is_dates(index):
        if pd.api.types.is_integer_dtype(index.dtype):
            ints: pd.Index = pd.Index(
                [int(last) + k for k in range(1, n + 1)], name=index.name, dtype="int64"
            )
            return ints
        raise ConfigError(
            f"cannot tell the date after {last!r}: the index is neither dates nor integers"
        )
    cal = calendar if calendar is not None and calendar.dated else own_calendar(index)
    dates: pd.Index = pd.DatetimeIndex(cal.after(last, n), name=index.name)
    return dates


def information_dates(index: pd.Index, dates: pd.Index, horizon: int) -> pd.Index:
    """For each forecast date of ``dates`` (each a date of ``index`` or of the ``horizon`` dates
    after it, as ``predict`` gives them), the date of the last row the forecast used: the row
    ``horizon`` rows before it."""
    full = index.append(dates[~dates.isin(index)]) if len(dates) else index
    pos = full.get_indexer(dates)
    if (pos < horizon).any():
        raise ConfigError("a forecast date is not preceded by horizon rows of the data")
    used: pd.Index = full[pos - horizon]
    return used


def bars_per_year(index: pd.Index, calendar: Calendar | str | None = None) -> float:
    """How many bars make a year for a series on ``index``: what annualises a per-bar mean
    (x bars), variance (x bars) or Sharpe ratio (x sqrt(bars)).

    An exchange's daily calendar: its sessions per year over the whole years the data spans
    (about 252 for XNYS); with intraday bars, times the bars of its sessions (early closes and
    lunch breaks counted). The data's own calendar: a regular frequency's bars in a Gregorian
    year of 365.2425 days (365.2425 calendar days, 52.18 weeks, 12 months, 105,190 5-minute
    bars); trading days counted in the
    whole years the data spans, or 252 when it spans none; intraday sessions, their bars times
    those days. ``calendar`` is a :class:`Calendar`, a name (fitted to ``index``), or None (the
    data's own).

    Examples
    --------
    >>> days = pd.bdate_range("2021-01-01", "2023-12-31")
    >>> bars_per_year(days, "XNYS")
    251.0
    >>> round(bars_per_year(pd.date_range("2024-01-01", periods=500, freq="5min")))
    105190
    """
    cal = calendar if isinstance(calendar, Calendar) else calendar_for(index, calendar)
    if not cal.dated or not _is_dates(index) or len(index) == 0:
        raise ConfigError(
            "undated rows (an integer index) have no year, so nothing can be annualised; give "
            "the periods per year yourself"
        )
    assert isinstance(index, pd.DatetimeIndex)
    if cal.exchange:
        return _exchange_bars_per_year(index, cal)
    if cal.freq is not None:
        step = _offset(cal.freq, "freq")
        if isinstance(step, pd.offsets.Tick):
            return float(pd.Timedelta(days=365.2425) / pd.Timedelta(step))
        return len(pd.date_range("2001-01-01", "2400-12-31", freq=step)) / 400.0
    days = _trading_days_a_year(index)
    if cal.bar is None:
        return days
    assert cal.session is not None
    first, final = (_time_of_day(t) for t in cal.session)
    return float(days * ((final - first) // _step(cal.bar) + 1))


def _trading_days_a_year(index: pd.DatetimeIndex) -> float:
    """Trading days counted in the whole calendar years ``index`` spans, else the convention."""
    days = index.normalize().unique()
    years = days.year
    whole = sorted(set(years))[1:-1] if len(set(years)) > 2 else []
    if not whole:
        return BUSINESS_DAYS_A_YEAR
    counts = pd.Series(1, index=years).groupby(level=0).size()
    return float(counts.loc[whole].mean())


def _exchange_bars_per_year(index: pd.DatetimeIndex, cal: Calendar) -> float:
    s = _sessions(cal.name)
    first_year, last_year = s.first.year + 1, s.final.year - 1  # whole years of the calendar
    lo = max(index[0].year, first_year)
    hi = min(index[-1].year, last_year)
    if lo > hi:
        lo = hi = min(max(index[-1].year, first_year), last_year)
    j0 = int(np.searchsorted(s.days, pd.Timestamp(f"{lo}-01-01").as_unit("ns").value))
    j1 = int(np.searchsorted(s.days, pd.Timestamp(f"{hi + 1}-01-01").as_unit("ns").value))
    per_year = (j1 - j0) / (hi - lo + 1)
    if cal.bar is None:
        return float(per_year)
    step = _step(cal.bar).as_unit("ns").value
    return float(per_year * s.bars_in(j0, j1, step, cal.label == "end").mean())


# -- the data's own calendar: what its index says --------------------------------------------------


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
            "traded": days.isin(index.normalize().tz_localize(None).unique()),
        }
    )
    stats = frame.groupby(["month", "day"])["traded"].agg(["size", "any"])
    closed = stats[(stats["size"] >= 3) & ~stats["any"]]
    return {(int(m), int(d)) for m, d in closed.index}


def last_session(calendar: Calendar | None, day: pd.Timestamp) -> pd.Timestamp:
    """The last session of ``calendar``'s exchange on or before ``day``'s date: ``day`` itself
    on a session, the session before on a holiday or a weekend. Without an exchange's daily
    sessions to go by (no calendar, the data's own, intraday bars), ``day``: every day may hold
    a row.

    Examples
    --------
    >>> last_session(Calendar("XNYS"), pd.Timestamp("2015-07-03"))  # Independence Day, observed
    Timestamp('2015-07-02 00:00:00')
    """
    if calendar is None or not calendar.exchange or calendar.intraday:
        return day
    sessions = _sessions(calendar.name)
    try:
        i = int(sessions.days.searchsorted(_day_ns(day), side="right"))
    except OverflowError:
        i = 0
    if i == 0:
        sessions._out_of_range(day)
    found: pd.Timestamp = pd.Timestamp(sessions.days[i - 1])
    return found


def calendar_of(frame: pd.DataFrame | pd.Series) -> Calendar:
    """The calendar of a loaded series: the exchange named by ``frame.attrs["calendar"]`` (set
    by :func:`gatecast.data.load` for bundled data, by ``--calendar``, or by you), else the
    data's own, fitted to its index."""
    name = frame.attrs.get("calendar")
    return calendar_for(frame.index, None if name is None else str(name))


def override_calendar(recorded: Calendar | None, name: str) -> Calendar:
    """The calendar ``name`` in place of a model's ``recorded`` one (a stream has no data to fit
    it to), keeping what is known of the bars (their length and stamping). The data's own
    calendar without data to learn it from is business days; intraday bars recorded on an
    exchange have no session of their own to fall back on, and are refused."""
    if recorded is not None and recorded.name == name:
        return recorded
    bar = recorded.bar if recorded is not None else None
    if name == DATA:
        if bar is not None and (recorded is None or recorded.session is None):
            raise ConfigError(
                f"--calendar data: the model's {bar} bars follow {recorded and recorded.name}'s "
                f"sessions and it knows no hours of its own; keep the model's calendar, or "
                f"train it again with --calendar data"
            )
        return Calendar(DATA, bar=bar, session=recorded.session if recorded else None)
    label = recorded.label if recorded is not None and recorded.exchange else "start"
    return Calendar(name, bar=bar, label=label)

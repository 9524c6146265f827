"""Numbers and dates written as text in a price file: ``2,511.14`` and ``$2511.14`` read as
numbers, date columns read as the file meant them (ISO, day- or month-first, ``YYYYMMDD``) or
refused with the row."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from gatecast.errors import DateParseError

_CURRENCY = r"[$€£¥]"
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_NAN_TEXT = ("nan", "+nan", "-nan")
_T = TypeVar("_T")


def first_flagged(flags: np.ndarray) -> tuple[int, int] | None:
    """Where the first flagged cell of a check is and how many there are (None when none is),
    the two numbers a refusal names."""
    if not flags.any():
        return None
    return int(np.argmax(flags)), int(flags.sum())


def first_repeat(items: Iterable[_T], name: Callable[[_T], str]) -> tuple[_T, _T] | None:
    """The first two items that ``name`` gives the same name (None when every name differs),
    for a refusal that names both."""
    seen: dict[str, _T] = {}
    for item in items:
        key = name(item)
        if key in seen:
            return seen[key], item
        seen[key] = item
    return None


def _numbers(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column as floats, reading ``2,511.14`` and ``$2511.14``; and which cells held text that
    is not a number (those become NaN)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype(float), np.zeros(len(col), dtype=bool)
    text = col.astype("string").str.strip()
    plain = text.str.replace(rf"^([+-]?)\s*{_CURRENCY}\s*", r"\1", regex=True)
    plain = plain.str.replace(rf"\s*{_CURRENCY}$", "", regex=True)
    grouped = plain.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
    plain = plain.where(~grouped, plain.str.replace(",", "", regex=False))
    values = pd.to_numeric(plain, errors="coerce").astype(float)
    missing = text.isna() | (text == "") | text.str.lower().isin(_NAN_TEXT).fillna(False)
    bad = (values.isna() & ~missing).to_numpy(dtype=bool)
    return values, bad


_TZ = r"(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
_ISO_START = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_ISO = re.compile(
    rf"(\d{{4}}-\d{{1,2}}-\d{{1,2}}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?)?)\s*{_TZ}?"
)
_NUMERIC = re.compile(
    r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T]+(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?"
    rf"\s*{_TZ}?"
)
_SHORT_YEAR = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2}(?!\d)")


def parse_dates(
    col: pd.Series,
    where: str = "the date column",
    dayfirst: bool | None = None,
    date_format: str | None = None,
) -> pd.DatetimeIndex:
    """A date column as a naive DatetimeIndex, read as the file meant it or refused.

    ISO dates (``2020-01-02``, with a time and a UTC offset or not) are read directly; a
    timestamp with an offset keeps its local date and time (the offset, which may change with
    daylight saving, is dropped), so no date moves. ``dd/mm/yyyy`` and ``mm/dd/yyyy`` are told
    apart by a field above 12; a file that reads both ways is refused unless ``dayfirst`` or
    ``date_format`` says which. Numbers are dates only as ``YYYYMMDD`` (``20200102``), never
    as seconds or nanoseconds since 1970. Month names (``Jan 2, 2020``) are read as written.
    """
    hint = "use ISO dates such as 2015-01-02, or pass --date-format (e.g. %d.%m.%Y)"
    if pd.api.types.is_datetime64_any_dtype(col):
        return _naive(pd.DatetimeIndex(col))
    if date_format is not None:
        parsed = _to_datetime(col.astype("string").str.strip(), where, format=date_format)
        return _checked_dates(parsed, col, where, f"the format {date_format!r}")
    if pd.api.types.is_numeric_dtype(col):
        ints = pd.to_numeric(col, errors="coerce")
        ymd = ints.notna() & (ints % 1 == 0) & (ints >= 10000101) & (ints <= 99991231)
        if not ymd.all():
            row = int(np.argmax(~ymd.to_numpy()))
            raise DateParseError(
                f"{where}, row {row + 2}: {_value(col.iloc[row])!r} is a number, not a date; gatecast "
                f"does not guess what a number counts (seconds, days, nanoseconds since 1970): "
                f"write dates as YYYY-MM-DD, or pass --date-format"
            )
        text = ints.astype("int64").astype(str)
        parsed = _to_datetime(text, where, format="%Y%m%d")
        return _checked_dates(parsed, col, where, "YYYYMMDD")
    text = col.astype("string").str.strip()
    iso = text.str.fullmatch(_ISO.pattern).fillna(False).astype(bool)
    if iso.all() or text.str.match(_ISO_START.pattern).fillna(False).astype(bool).iloc[0]:
        local = text.str.extract(rf"^{_ISO.pattern}$", expand=False)
        parsed = _to_datetime(local, where, format="ISO8601")
        return _checked_dates(parsed, col, where, "an ISO date", hint)
    parts = text.str.extract(rf"^{_NUMERIC.pattern}$")
    if parts[0].notna().all():
        a, b = parts[0].astype(int), parts[1].astype(int)
        if dayfirst is None:
            if (a > 12).any() and (b > 12).any():
                i, j = int(np.argmax((a > 12).to_numpy())), int(np.argmax((b > 12).to_numpy()))
                raise DateParseError(
                    f"{where}: {col.iloc[i]!r} (row {i + 2}) reads day-first and "
                    f"{col.iloc[j]!r} (row {j + 2}) month-first; one file needs one date format"
                )
            if not (a > 12).any() and not (b > 12).any():
                raise DateParseError(
                    f"{where}: dates such as {col.iloc[0]!r} read as day/month/year and as "
                    f"month/day/year (no day above 12 tells which); pass --dayfirst for "
                    f"day/month/year or --date-format %m/%d/%Y for month/day/year"
                )
            dayfirst = bool((a > 12).any())
        day, month = (a, b) if dayfirst else (b, a)
        local = parts[2] + "-" + month.astype(str) + "-" + day.astype(str)
        local = local.where(parts[3].isna(), local + " " + parts[3])
        parsed = _to_datetime(local, where, format="ISO8601")
        order = "day/month/year" if dayfirst else "month/day/year"
        return _checked_dates(parsed, col, where, f"a {order} date")
    short = text.str.match(_SHORT_YEAR.pattern).fillna(False).astype(bool)
    if short.any():
        row = int(np.argmax(short.to_numpy()))
        raise DateParseError(
            f"{where}, row {row + 2}: {col.iloc[row]!r} has a two-digit year or mixes date "
            f"formats, so its day, month and year are ambiguous; {hint}"
        )
    parsed = _to_datetime(text, where, format="mixed", dayfirst=bool(dayfirst))
    return _checked_dates(parsed, col, where, "a date", hint)


def _value(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _to_datetime(text: pd.Series, where: str, **kwargs: Any) -> pd.Series:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we check
            parsed = pd.to_datetime(text, errors="coerce", **kwargs)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DateParseError(f"{where}: cannot read the dates ({exc}); use ISO dates") from exc
    out: pd.Series = parsed
    return out


def _checked_dates(
    parsed: pd.Series, col: pd.Series, where: str, what: str, hint: str | None = None
) -> pd.DatetimeIndex:
    bad = first_flagged(parsed.isna().to_numpy())
    if bad is not None:
        row, count = bad
        raise DateParseError(
            f"{where}, row {row + 2}: cannot parse {_value(col.iloc[row])!r} as {what} "
            f"({count} bad value(s)); "
            f"{hint or 'use ISO dates such as 2015-01-02, or pass --date-format'}"
        )
    return _naive(pd.DatetimeIndex(parsed))


def _naive(idx: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Local dates and times: an index with a time zone keeps its wall-clock values."""
    out: pd.DatetimeIndex = idx.tz_localize(None) if idx.tz is not None else idx
    return out

"""The text-row protocol of `gatecast stream`: lines of CSV or JSON in, one result per data row."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from gatecast.data.sources import DATE_COLUMNS, normalise_name
from gatecast.errors import ConfigError, DataError
from gatecast.serve import Stream
from gatecast.serve.observations import SEQUENCE_COLUMNS, OrderKey, order_key

#: The columns of `gatecast stream`'s CSV output (the keys of its JSON lines).
OUTPUT_COLUMNS = ("date", "forecast", "as_of", "forecast_for")


@dataclass
class StreamRow:
    """One input line's outcome: its number, date (if any), forecast, or error message; the
    date of the last observation the forecast used (``as_of``, the row's own date or sequence
    number) and the bar it is for (``forecast_for``, ``horizon`` bars of the model's calendar
    later; empty where no calendar dates it); ``note`` names the bars the row skipped."""

    line: int
    date: str | None
    forecast: float | None = None
    error: str | None = None
    as_of: str | None = None
    forecast_for: str | None = None
    note: str | None = None
    #: The interval columns of a stream with bands (``lower``, ``upper``, ``q0.05``, ``price_*``).
    band: dict[str, float] | None = None

    def csv(self) -> str:
        f = "" if self.forecast is None or math.isnan(self.forecast) else repr(self.forecast)
        date = self.date if self.date is not None else self.line
        extra = "".join(
            "," + ("" if math.isnan(v) else repr(v)) for v in (self.band or {}).values()
        )
        return f"{date},{f},{self.as_of or ''},{self.forecast_for or ''}{extra}"

    def jsonl(self) -> str:
        f = None if self.forecast is None or math.isnan(self.forecast) else self.forecast
        doc = {
            "date": self.date if self.date is not None else self.line,
            "forecast": f,
            "as_of": self.as_of,
            "forecast_for": self.forecast_for,
        }
        doc |= {k: None if math.isnan(v) else v for k, v in (self.band or {}).items()}
        return json.dumps(doc)


def stream_lines(
    stream: Stream,
    lines: Iterable[str | bytes],
    fmt: str = "csv",
    columns: Sequence[str] | None = None,
    guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
) -> Iterator[StreamRow]:
    """Feed text rows to ``stream`` as they arrive, one :class:`StreamRow` per data row.

    ``csv``: a header row names the columns (a date column is optional), or ``columns`` does for
    header-less input; a first line that is plainly data (bare prices, or ``date,price``) needs
    neither. ``jsonl``: one JSON object per line (or a bare number). Lines may be bytes, decoded
    one by one as UTF-8. A row that cannot be decoded or read, an absurd price, a row dated
    at or before the last one consumed, or one dated too far ahead (see :class:`Stream`) yields
    a row with ``error`` set (naming the line) and leaves the stream unchanged. Each update runs
    inside ``guard()`` (e.g. a lock that a checkpoint takes too).
    """
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"format {fmt!r} is unknown; use csv or jsonl")
    header = _given_header(columns) if columns else None
    for no, text in texts(lines):
        if isinstance(text, RowError):
            yield StreamRow(no, None, error=f"line {no}: {text}")
            continue
        if fmt == "csv" and header is None:
            header = _header_of(text, no)
            if header is not None:
                continue
            header = ["price"] if len(text.split(",")) == 1 else ["date", "price"]
        try:
            date, at, obs = _parse(text, fmt, header)
        except RowError as exc:
            where = f"line {no}" + (f" ({exc.date})" if exc.date else "")
            yield StreamRow(no, exc.date, error=f"{where}: {exc}")
            continue
        try:
            with guard():
                forecast = stream.update(obs, at=at)
                key = stream.last if at is not None else None
                missed = list(stream.missed)
        except DataError as exc:
            yield StreamRow(
                no, date, error=f"line {no}" + (f" ({date})" if date else "") + f": {exc}"
            )
            continue
        row = StreamRow(no, date, forecast)
        if stream.bands is not None:
            row.band = dict(stream.band)
        if key is not None:
            row.as_of, row.forecast_for = shown(key), shown(forecast_for(stream, key))
        if missed:
            row.note = missed_note(f"line {no}" + (f" ({date})" if date else ""), missed)
        yield row


def texts(lines: Iterable[str | bytes]) -> Iterator[tuple[int, str | RowError]]:
    """The lines that are not blank, numbered from 1 and stripped; one that cannot be decoded
    comes as its :class:`RowError`."""
    for no, raw in enumerate(lines, start=1):
        try:
            text = _decoded(raw, no).strip()
        except RowError as exc:
            yield no, exc
            continue
        if text:
            yield no, text


def missed_note(where: str, missed: Sequence[OrderKey]) -> str:
    """The note of a row (at ``where``) that skipped the bars ``missed``: the first three named."""
    return (
        f"{where}: {len(missed)} bar(s) missing before this row "
        f"({', '.join(str(shown(b)) for b in missed[:3])}"
        + (", ..." if len(missed) > 3 else "")
        + "); taken"
    )


def json_doc(text: str) -> Any:
    """The JSON value of a line; a :class:`RowError` where it is not valid JSON."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
        raise RowError(f"not valid JSON ({msg}): {text[:80]!r}") from None


def forecast_for(stream: Stream, key: OrderKey) -> OrderKey | None:
    """The bar a forecast made at row ``key`` is for: ``horizon`` bars of the stream's calendar
    after it (a sequence number plus the horizon); None where no calendar dates it."""
    h = stream.spec.horizon
    if isinstance(key, int):
        return key + h
    cal = stream.calendar
    if cal is None or not cal.dated:
        return None
    try:
        bars = cal.after(key, h)
    except DataError:  # past the sessions the exchange's calendar knows
        return None
    target: OrderKey = bars[-1]
    return target


def shown(key: OrderKey | None) -> str | None:
    """A row's date as written out (``2024-12-31``, ``2024-12-31 15:55:00``), or its sequence
    number."""
    if key is None:
        return None
    if isinstance(key, int):
        return str(key)
    return key.date().isoformat() if key == key.normalize() else f"{key:%Y-%m-%d %H:%M:%S}"


class RowError(DataError):
    """A text row that cannot be read; ``date`` is its date when that much was readable."""

    def __init__(self, message: str, date: str | None = None) -> None:
        super().__init__(message)
        self.date = date


def _decoded(raw: str | bytes, no: int) -> str:
    if isinstance(raw, str):
        return raw.lstrip("\ufeff") if no == 1 else raw
    try:
        return raw.decode("utf-8-sig" if no == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise RowError(
            f"not UTF-8 text (byte 0x{bad} at position {exc.start + 1}); write rows in UTF-8"
        ) from None


def _given_header(columns: Sequence[str]) -> list[str]:
    names = [normalise_name(c) for c in columns]
    if not all(names) or len(set(names)) != len(names):
        raise ConfigError(
            f"the header {','.join(columns)} does not give each field a distinct name (names "
            f"are case-insensitive); e.g. date,close, or --columns for header-less input"
        )
    return names


def _header_of(text: str, no: int) -> list[str] | None:
    """The header a first line gives, or None when the line is data that needs no header."""
    cells = [c.strip() for c in text.split(",")]
    numbers = [_is_number(c) for c in cells]
    if len(cells) == 1 and numbers[0]:
        return None  # a file of bare prices
    if len(cells) >= 2 and all(numbers[1:]) and (numbers[0] or _is_date(cells[0])):
        if len(cells) == 2:
            return None  # date,price
        raise ConfigError(
            f"line {no} ({text[:60]!r}) is data, not a header, and its fields cannot be told "
            f"apart; name them with --columns, e.g. --columns date,open,high,low,close"
        )
    return _given_header(cells)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        order_key(text)
    except DataError:
        return False
    return True


def _parse(text: str, fmt: str, header: list[str] | None) -> tuple[str | None, Any, Any]:
    """(date shown, order key for the stream, observation) of one line."""
    if fmt == "jsonl":
        doc = json_doc(text)
        if isinstance(doc, (int, float)) and not isinstance(doc, bool):
            return None, None, float(doc)
        if not isinstance(doc, dict):
            raise RowError(f"expected a JSON object or a number, got {text[:80]!r}")
        row = {normalise_name(k): v for k, v in doc.items()}
        if len(row) != len(doc):
            raise RowError(f"two keys of {text[:80]!r} mean the same column (case-insensitive)")
    else:
        assert header is not None
        cells = [c.strip() for c in text.split(",")]
        if len(cells) != len(header):
            raise RowError(
                f"{len(cells)} fields, the header has {len(header)} ({','.join(header)})"
            )
        row = dict(zip(header, cells, strict=True))
    date = next((str(row.pop(k)) for k in DATE_COLUMNS if k in row), None)
    at: Any = date
    seq_name = next((k for k in SEQUENCE_COLUMNS if k in row), None)
    if seq_name is not None:
        seq = row.pop(seq_name)
        if isinstance(seq, bool) or not str(seq).strip().isdigit():
            raise RowError(f"{seq_name} {seq!r} is not a whole number >= 0", date)
        at = at if at is not None else int(str(seq).strip())
        date = date if date is not None else str(seq).strip()
    for k, v in row.items():
        if isinstance(v, str):
            if not _is_number(v):
                raise RowError(f"column {k!r} holds {v!r}, not a number", date)
            row[k] = float(v)
        elif v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise RowError(f"column {k!r} holds {v!r}, not a number", date)
    return date, at, row

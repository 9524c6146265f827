"""The text-row protocol of `gatecast stream`: lines of CSV or JSON in, one result per data row."""

from __future__ import annotations

import contextlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gatecast.data.sources import DATE_COLUMNS, normalise_name
from gatecast.errors import ConfigError, DataError
from gatecast.serve import Stream
from gatecast.serve.observations import SEQUENCE_COLUMNS, OrderKey, order_key

#: The columns of `gatecast stream`'s CSV output (the keys of its JSON lines).
OUTPUT_COLUMNS = ("date", "forecast", "as_of", "forecast_for")


@dataclass
class AnsweredRow:
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

    def _doc(self) -> dict[str, Any]:
        """The fields written out: the CSV columns, in order, and the JSON keys."""
        f = None if self.forecast is None or math.isnan(self.forecast) else self.forecast
        return {
            "date": self.date if self.date is not None else self.line,
            "forecast": f,
            "as_of": self.as_of,
            "forecast_for": self.forecast_for,
        }

    def csv(self) -> str:
        return ",".join("" if v is None else repr(v) if isinstance(v, float) else str(v)
                        for v in self._doc().values())  # fmt: skip

    def jsonl(self) -> str:
        return json.dumps(self._doc())


@dataclass
class StreamRow(AnsweredRow):
    """A row of one series' stream (:class:`AnsweredRow`), with its interval columns."""

    #: The interval columns of a stream with bands (``lower``, ``upper``, ``q0.05``, ``price_*``).
    band: dict[str, float] | None = None

    def _doc(self) -> dict[str, Any]:
        return super()._doc() | {
            k: None if math.isnan(v) else v for k, v in (self.band or {}).items()
        }


#: What each update runs inside (e.g. a lock that a checkpoint takes too).
Guard = Callable[[], AbstractContextManager[Any]]


_Header = TypeVar("_Header")
_Row = TypeVar("_Row", bound=AnsweredRow)


class RowReader(ABC, Generic[_Header, _Row]):
    """The loop of `gatecast stream`, one for both kinds of model: text rows in, one row out
    per data row. A subclass says how a header is read, a row parsed, fed and answered: one
    series (:class:`SeriesRows`), or a global model's panel (cli/panel_rows.py)."""

    def answer(
        self,
        lines: Iterable[str | bytes],
        fmt: str = "csv",
        columns: Sequence[str] | None = None,
        guard: Guard = contextlib.nullcontext,
    ) -> Iterator[_Row]:
        """Feed ``lines`` as they arrive (bytes are decoded one by one as UTF-8). ``csv``: a
        header row names the columns, or ``columns`` does for header-less input; ``jsonl``: one
        JSON object per line. A row that cannot be decoded, read or taken yields a row with
        ``error`` set (naming the line) and changes no state. Each update runs inside
        ``guard()``."""
        if fmt not in ("csv", "jsonl"):
            raise ConfigError(f"format {fmt!r} is unknown; use csv or jsonl")
        header = self.given_header(columns) if columns else None
        for no, text in texts(lines):
            if isinstance(text, RowError):
                yield self.failed(no, None, None, f"line {no}: {text}")
                continue
            if fmt == "csv" and header is None:
                header, is_data = self.first_header(text, no)
                if not is_data:
                    continue
            try:
                instrument, date, at, obs = self.parse(text, fmt, header)
            except RowError as exc:
                where = _where(no, exc.instrument, exc.date)
                yield self.failed(no, exc.instrument, exc.date, f"{where}: {exc}")
                continue
            where = _where(no, instrument, date)
            try:
                with guard():
                    forecast, stream, missed = self.update(instrument, obs, at)
                    key = stream.last if at is not None else None
            except DataError as exc:
                yield self.failed(no, instrument, date, f"{where}: {exc}")
                continue
            row = self.answered(no, instrument, date, forecast)
            if key is not None:
                row.as_of, row.forecast_for = shown(key), shown(forecast_for(stream, key))
            if missed:
                row.note = missed_note(where, missed)
            yield row

    @abstractmethod
    def given_header(self, columns: Sequence[str]) -> _Header:
        """The header that ``--columns`` gives."""

    @abstractmethod
    def first_header(self, text: str, no: int) -> tuple[_Header, bool]:
        """The header of CSV input from its first line ``text``; whether that line is data."""

    @abstractmethod
    def parse(
        self, text: str, fmt: str, header: _Header | None
    ) -> tuple[str | None, str | None, Any, Any]:
        """(instrument, date shown, order key, observation) of a line; a :class:`RowError`."""

    @abstractmethod
    def update(self, instrument: str | None, obs: Any, at: Any) -> tuple[float, Stream, list[Any]]:
        """Feed one observation: (forecast, the stream that took it, the bars it skipped)."""

    @abstractmethod
    def answered(self, no: int, instrument: str | None, date: str | None, forecast: float) -> _Row:
        """The row of a forecast."""

    @abstractmethod
    def failed(self, no: int, instrument: str | None, date: str | None, error: str) -> _Row:
        """The row of a line refused with ``error``."""


class SeriesRows(RowReader[list[str], StreamRow]):
    """The rows of one series' stream: a date column is optional, and a first line that is
    plainly data (bare prices, or ``date,price``) needs no header; ``jsonl`` takes a bare number
    too. A row that cannot be decoded or read, an absurd price, a row dated at or before the
    last one consumed, or one dated too far ahead (see :class:`Stream`) is refused."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def given_header(self, columns: Sequence[str]) -> list[str]:
        return _given_header(columns)

    def first_header(self, text: str, no: int) -> tuple[list[str], bool]:
        header = _header_of(text, no)
        if header is not None:
            return header, False
        return (["price"] if len(text.split(",")) == 1 else ["date", "price"]), True

    def parse(
        self, text: str, fmt: str, header: list[str] | None
    ) -> tuple[str | None, str | None, Any, Any]:
        return (None, *_parse(text, fmt, header))

    def update(self, instrument: str | None, obs: Any, at: Any) -> tuple[float, Stream, list[Any]]:
        return self.stream.update(obs, at=at), self.stream, list(self.stream.missed)

    def answered(
        self, no: int, instrument: str | None, date: str | None, forecast: float
    ) -> StreamRow:
        row = StreamRow(no, date, forecast)
        if self.stream.bands is not None:
            row.band = dict(self.stream.band)
        return row

    def failed(self, no: int, instrument: str | None, date: str | None, error: str) -> StreamRow:
        return StreamRow(no, date, error=error)


def stream_lines(stream: Stream, lines: Iterable[str | bytes], **how: Any) -> Iterator[StreamRow]:
    """Feed text rows to ``stream`` as they arrive, one :class:`StreamRow` per data row
    (:meth:`SeriesRows.answer`, ``how`` its ``fmt``, ``columns`` and ``guard``)."""
    return SeriesRows(stream).answer(lines, **how)


def _where(no: int, instrument: str | None, date: str | None) -> str:
    """``line 3 (SPY, 2024-12-31)``: a line, with its instrument and date where known."""
    known = ", ".join(filter(None, [instrument, date]))
    return f"line {no}" + (f" ({known})" if known else "")


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
    """A text row that cannot be read; ``date`` (and ``instrument``) where that much was
    readable."""

    def __init__(self, message: str, date: str | None = None) -> None:
        super().__init__(message)
        self.date = date
        self.instrument: str | None = None  # a panel row's, once read


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
    numbers = [_reads(c, float, ValueError) for c in cells]
    if len(cells) == 1 and numbers[0]:
        return None  # a file of bare prices
    if (
        len(cells) >= 2
        and all(numbers[1:])
        and (numbers[0] or _reads(cells[0], order_key, DataError))
    ):
        if len(cells) == 2:
            return None  # date,price
        raise ConfigError(
            f"line {no} ({text[:60]!r}) is data, not a header, and its fields cannot be told "
            f"apart; name them with --columns, e.g. --columns date,open,high,low,close"
        )
    return _given_header(cells)


def _reads(text: str, read: Callable[[str], object], error: type[Exception]) -> bool:
    """Whether ``read`` (``float``, ``order_key``) takes ``text`` without raising ``error``."""
    try:
        read(text)
    except error:
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
            if not _reads(v, float, ValueError):
                raise RowError(f"column {k!r} holds {v!r}, not a number", date)
            row[k] = float(v)
        elif v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise RowError(f"column {k!r} holds {v!r}, not a number", date)
    return date, at, row

"""The text-row protocol of `gatecast stream`: lines of CSV or JSON in, one result per data row."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gatecast.data.sources import DATE_COLUMNS, normalise_name
from gatecast.errors import ConfigError, DataError
from gatecast.serve import Stream


@dataclass
class StreamRow:
    """One input line's outcome: its number, date (if any), forecast, or error message."""

    line: int
    date: str | None
    forecast: float | None = None
    error: str | None = None

    def csv(self) -> str:
        f = "" if self.forecast is None or math.isnan(self.forecast) else repr(self.forecast)
        return f"{self.date if self.date is not None else self.line},{f}"

    def jsonl(self) -> str:
        f = None if self.forecast is None or math.isnan(self.forecast) else self.forecast
        return json.dumps(
            {"date": self.date if self.date is not None else self.line, "forecast": f}
        )


def stream_lines(stream: Stream, lines: Iterable[str], fmt: str = "csv") -> Iterator[StreamRow]:
    """Feed text rows to ``stream`` as they arrive, one :class:`StreamRow` per data row.

    ``csv``: a header row names the columns (a date column is optional; a file of bare numbers
    needs no header). ``jsonl``: one JSON object per line (or a bare number). A malformed row
    yields a row with ``error`` set (naming the line) and leaves the stream unchanged.
    """
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"format {fmt!r} is unknown; use csv or jsonl")
    header: list[str] | None = None
    for no, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        if fmt == "csv" and header is None:
            cells = [c.strip() for c in text.split(",")]
            if not (len(cells) == 1 and _is_number(cells[0])):
                header = [normalise_name(c) for c in cells]
                continue
            header = ["price"]
        try:
            date, obs = _parse(text, fmt, header)
        except RowError as exc:
            where = f"line {no}" + (f" ({exc.date})" if exc.date else "")
            yield StreamRow(no, exc.date, error=f"{where}: {exc}")
            continue
        try:
            yield StreamRow(no, date, stream.update(obs))
        except DataError as exc:
            yield StreamRow(
                no, date, error=f"line {no}" + (f" ({date})" if date else "") + f": {exc}"
            )


class RowError(DataError):
    """A text row that cannot be read; ``date`` is its date when that much was readable."""

    def __init__(self, message: str, date: str | None = None) -> None:
        super().__init__(message)
        self.date = date


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse(text: str, fmt: str, header: list[str] | None) -> tuple[str | None, Any]:
    if fmt == "jsonl":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RowError(f"not valid JSON ({exc.msg}): {text[:80]!r}") from None
        if isinstance(doc, (int, float)) and not isinstance(doc, bool):
            return None, float(doc)
        if not isinstance(doc, dict):
            raise RowError(f"expected a JSON object or a number, got {text[:80]!r}")
        row = {normalise_name(k): v for k, v in doc.items()}
    else:
        assert header is not None
        cells = [c.strip() for c in text.split(",")]
        if len(cells) != len(header):
            raise RowError(
                f"{len(cells)} fields, the header has {len(header)} ({','.join(header)})"
            )
        row = dict(zip(header, cells, strict=True))
    date = next((str(row.pop(k)) for k in DATE_COLUMNS if k in row), None)
    for k, v in row.items():
        if isinstance(v, str):
            if not _is_number(v):
                raise RowError(f"column {k!r} holds {v!r}, not a number", date)
            row[k] = float(v)
    return date, row

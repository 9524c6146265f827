"""The text-row protocol of `gatecast stream` with a global model: long rows (date, instrument,
close[, high, low]) in, one result per row, each from its instrument's state in a StreamSet."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from gatecast.cli.stream_rows import (
    RowError,
    _given_header,
    _parse,
    forecast_for,
    json_doc,
    missed_note,
    shown,
    texts,
)
from gatecast.data.sources import INSTRUMENT_COLUMNS, normalise_name
from gatecast.errors import ConfigError, DataError
from gatecast.serve import StreamSet

#: The columns of `gatecast stream`'s CSV output with a global model (its JSON lines' keys).
PANEL_OUTPUT_COLUMNS = ("instrument", "date", "forecast", "as_of", "forecast_for")


@dataclass
class PanelStreamRow:
    """One input line's outcome: its instrument and date (where readable), the forecast for
    that instrument's next bar or the error (naming the line, date and instrument)."""

    line: int
    instrument: str | None
    date: str | None
    forecast: float | None = None
    error: str | None = None
    as_of: str | None = None
    forecast_for: str | None = None
    note: str | None = None

    def _doc(self) -> dict[str, Any]:
        f = None if self.forecast is None or math.isnan(self.forecast) else self.forecast
        return {
            "instrument": self.instrument,
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


def panel_stream_lines(
    streams: StreamSet,
    lines: Iterable[str | bytes],
    fmt: str = "csv",
    columns: Sequence[str] | None = None,
    guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
) -> Iterator[PanelStreamRow]:
    """Feed long rows to ``streams`` (a global model's StreamSet) as they arrive, one
    :class:`PanelStreamRow` per data row.

    ``csv``: a header row names the columns (an instrument column, ``instrument``, ``ticker``...,
    a date column and the prices), or ``columns`` does for header-less input. ``jsonl``: one
    JSON object per line with an instrument key. Each row ticks its instrument alone
    (``update_many({instrument: row})``); a row the set refuses (unreadable, an absurd price, a
    replayed or too-far-ahead date, an instrument the model cannot serve) yields a row with
    ``error`` set and changes no state.
    """
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"format {fmt!r} is unknown; use csv or jsonl")
    header = _panel_header(columns, "--columns") if columns else None
    for no, text in texts(lines):
        if isinstance(text, RowError):
            yield PanelStreamRow(no, None, None, error=f"line {no}: {text}")
            continue
        if fmt == "csv" and header is None:
            header = _panel_header([c.strip() for c in text.split(",")], f"line {no}")
            continue
        instrument = None
        try:
            instrument, rest = _split(text, fmt, header)
            date, at, obs = _parse(rest, fmt, None if header is None else header[1])
        except RowError as exc:
            where = f"line {no}" + (
                f" ({', '.join(filter(None, [instrument, exc.date]))})"
                if instrument or exc.date
                else ""
            )
            yield PanelStreamRow(no, instrument, exc.date, error=f"{where}: {exc}")
            continue
        where = f"line {no} (" + ", ".join(filter(None, [instrument, date])) + ")"
        try:
            with guard():
                forecast = streams.update_many({instrument: obs}, at=at)[instrument]
                member = streams[instrument]
                key = member.last if at is not None else None
                missed = list(streams.missed.get(instrument, []))
        except DataError as exc:
            yield PanelStreamRow(no, instrument, date, error=f"{where}: {exc}")
            continue
        row = PanelStreamRow(no, instrument, date, forecast)
        if key is not None:
            row.as_of, row.forecast_for = shown(key), shown(forecast_for(member, key))
        if missed:
            row.note = missed_note(where, missed)
        yield row


def _panel_header(cells: Sequence[str], where: str) -> tuple[int, list[str]]:
    """(position of the instrument field, the names of the other fields)."""
    names = _given_header(cells)
    found = [i for i, n in enumerate(names) if n in INSTRUMENT_COLUMNS]
    if len(found) != 1:
        raise ConfigError(
            f"{where} ({','.join(cells)[:80]}) names {'no' if not found else 'more than one'} "
            f"instrument field ({', '.join(INSTRUMENT_COLUMNS)}): a global model's stream "
            f"reads long rows with a header such as date,instrument,close (or --columns "
            f"date,instrument,close for header-less input)"
        )
    return found[0], [n for i, n in enumerate(names) if i != found[0]]


def _split(text: str, fmt: str, header: tuple[int, list[str]] | None) -> tuple[str, str]:
    """(instrument, the rest of the row in the same format)."""
    if fmt == "jsonl":
        doc = json_doc(text)
        if not isinstance(doc, dict):
            raise RowError(f"expected a JSON object with an instrument, got {text[:80]!r}")
        keys = [k for k in doc if normalise_name(k) in INSTRUMENT_COLUMNS]
        if len(keys) != 1:
            raise RowError(
                f"{text[:80]!r} names {'no' if not keys else 'more than one'} instrument "
                f"({', '.join(INSTRUMENT_COLUMNS)})"
            )
        name = str(doc.pop(keys[0])).strip()
        rest = json.dumps(doc)
    else:
        assert header is not None
        pos, others = header
        cells = [c.strip() for c in text.split(",")]
        if len(cells) != len(others) + 1:
            raise RowError(f"{len(cells)} fields, the header has {len(others) + 1}")
        name = cells.pop(pos)
        rest = ",".join(cells)
    if not name:
        raise RowError("the instrument is empty")
    return name, rest

"""The text-row protocol of `gatecast stream` with a global model: long rows (date, instrument,
close[, high, low]) in, one result per row, each from its instrument's state in a StreamSet."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gatecast.cli.stream_rows import (
    AnsweredRow,
    RowError,
    RowReader,
    _given_header,
    _parse,
    json_doc,
)
from gatecast.data.sources import INSTRUMENT_COLUMNS, normalise_name
from gatecast.errors import ConfigError
from gatecast.serve import Stream, StreamSet

#: The columns of `gatecast stream`'s CSV output with a global model (its JSON lines' keys).
PANEL_OUTPUT_COLUMNS = ("instrument", "date", "forecast", "as_of", "forecast_for")


@dataclass
class PanelStreamRow(AnsweredRow):
    """One input line's outcome (:class:`AnsweredRow`) and its instrument (where readable)."""

    instrument: str | None = None

    def _doc(self) -> dict[str, Any]:
        return {"instrument": self.instrument} | super()._doc()


class PanelRows(RowReader[tuple[int, list[str]], PanelStreamRow]):
    """The long rows of a global model's stream (``streams``, its StreamSet), one
    :class:`PanelStreamRow` per data row.

    ``csv``: a header row names the columns (an instrument column, ``instrument``, ``ticker``...,
    a date column and the prices), or ``columns`` does for header-less input. ``jsonl``: one
    JSON object per line with an instrument key. Each row ticks its instrument alone
    (``update_many({instrument: row})``); a row the set refuses (unreadable, an absurd price, a
    replayed or too-far-ahead date, an instrument the model cannot serve) yields a row with
    ``error`` set and changes no state.
    """

    def __init__(self, streams: StreamSet) -> None:
        self.streams = streams

    def given_header(self, columns: Sequence[str]) -> tuple[int, list[str]]:
        return _panel_header(columns, "--columns")

    def first_header(self, text: str, no: int) -> tuple[tuple[int, list[str]], bool]:
        return _panel_header([c.strip() for c in text.split(",")], f"line {no}"), False

    def parse(
        self, text: str, fmt: str, header: tuple[int, list[str]] | None
    ) -> tuple[str | None, str | None, Any, Any]:
        instrument, rest = _split(text, fmt, header)
        try:
            return (instrument, *_parse(rest, fmt, None if header is None else header[1]))
        except RowError as exc:
            exc.instrument = instrument
            raise

    def update(self, instrument: str | None, obs: Any, at: Any) -> tuple[float, Stream, list[Any]]:
        assert instrument is not None  # parse names it
        forecast = self.streams.update_many({instrument: obs}, at=at)[instrument]
        return forecast, self.streams[instrument], list(self.streams.missed.get(instrument, []))

    def answered(
        self, no: int, instrument: str | None, date: str | None, forecast: float
    ) -> PanelStreamRow:
        return PanelStreamRow(no, date, forecast, instrument=instrument)

    def failed(
        self, no: int, instrument: str | None, date: str | None, error: str
    ) -> PanelStreamRow:
        return PanelStreamRow(no, date, error=error, instrument=instrument)


def panel_stream_lines(
    streams: StreamSet, lines: Iterable[str | bytes], **how: Any
) -> Iterator[PanelStreamRow]:
    """Feed long rows to ``streams`` as they arrive (:meth:`PanelRows.answer`, ``how`` its
    ``fmt``, ``columns`` and ``guard``)."""
    return PanelRows(streams).answer(lines, **how)


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

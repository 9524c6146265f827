"""New instruments in a global model's stream (`gatecast stream --history FILE`): their past
rows read as a panel, their scalers (and levels) fit on them, and their streams warmed with
them, so that each one's forecasts start at its first streamed row."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from gatecast.data.panel import load_panel
from gatecast.errors import GatecastError
from gatecast.serve import StreamSet

__all__ = ["read_stream_history", "warm_new_instruments"]


def read_stream_history(path: str | Path, column: str | None = None) -> dict[str, pd.DataFrame]:
    """The rows of ``path`` (a panel file: long ``date,instrument,close[,high,low]``, or wide),
    read and checked as :func:`gatecast.load_panel` reads a panel, as instrument -> frame."""
    panel = load_panel(path, column=column)
    return {str(n): df for n, df in panel.items()}


def warm_new_instruments(
    streams: StreamSet, history: Mapping[str, pd.DataFrame], where: str = "the history"
) -> list[str]:
    """Feed each instrument of ``history`` its rows, in order, unless ``streams`` already holds
    it (a state resumed: its stream is past them); one note per instrument warmed.

    A row the stream refuses (a gap past ``max_gap`` bars of its calendar...) stops here with
    the stream's message, naming the instrument and ``where`` the rows came from."""
    notes = []
    for name, rows in history.items():
        if name in streams:
            continue
        try:
            for day, row in rows.iterrows():
                streams.update(name, row.to_dict(), at=day)
        except GatecastError as exc:
            raise type(exc)(f"instrument {name!r} in {where}: {exc}") from exc
        notes.append(
            f"instrument {name!r} is not in the fit: its scalers fit on its {len(rows)} rows "
            f"of {where} ({rows.index[0].date()} .. {rows.index[-1].date()}), its stream warmed "
            f"with them; its forecasts start at its first row after {rows.index[-1].date()}"
        )
    return notes

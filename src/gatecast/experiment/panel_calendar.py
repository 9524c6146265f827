"""The trading calendar of a global model trained on a panel (`gatecast train --calendar XNYS`
on a panel): every instrument's rows checked against the exchange's sessions, and the calendar
recorded in the global folder, so that predict and stream date the next bar by it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gatecast.data.calendar import DATA, calendar_for, check_calendar, check_exchange
from gatecast.errors import ConfigError, DataError

__all__ = ["PanelCalendar", "check_panel_calendar", "panel_calendar"]


@dataclass(frozen=True)
class PanelCalendar:
    """The calendar a panel follows: ``doc`` (``Calendar.to_dict()``, what the manifest's
    ``calendar`` holds) and ``notes`` (per instrument, rows off its sessions)."""

    doc: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def check_panel_calendar(name: str | None) -> None:
    """Refuse, before any data is read, a calendar a panel's training cannot record: the data's
    own (each instrument keeps its own days already) or an exchange code that is unknown."""
    if name is None:
        return
    if name == DATA:
        raise ConfigError(
            "--calendar data does not apply to a panel: each instrument keeps its own days "
            "without it; give the exchange every instrument trades on (--calendar XNYS, ...), "
            "or leave --calendar out"
        )
    check_exchange(name)  # a mistyped code fails with the nearest ones


def panel_calendar(panel: Mapping[str, pd.DataFrame], name: str | None) -> PanelCalendar | None:
    """The exchange calendar ``name`` that every instrument of ``panel`` follows (None: none
    given). Each instrument's rows are checked as one series' are (:func:`check_calendar`): a
    few off the sessions give a note naming the instrument, mostly off them is refused naming
    it; instruments whose bars differ in length (daily and 5-minute) are refused."""
    check_panel_calendar(name)
    if name is None:
        return None
    docs: dict[str, list[str]] = {}
    notes = []
    for inst, df in panel.items():
        cal = calendar_for(df.index, name)
        try:
            note = check_calendar(df.index, cal)
        except DataError as exc:
            raise DataError(f"instrument {inst!r}: {exc}; or leave it out of the panel") from exc
        if note is not None:
            notes.append(f"instrument {inst!r}: {note}")
        docs.setdefault(json.dumps(cal.to_dict(), sort_keys=True), []).append(str(inst))
    if len(docs) > 1:
        kinds = "; ".join(f"{', '.join(names)}: {doc}" for doc, names in docs.items())
        raise DataError(
            f"the instruments' bars do not follow {name} alike ({kinds}): one global model "
            f"records one calendar; train instruments with bars of one length together"
        )
    doc: dict[str, Any] = json.loads(next(iter(docs)))
    return PanelCalendar(doc, notes)

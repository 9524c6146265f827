"""The ``instrument:NAME`` covariates of a :class:`gatecast.serve.streamset.StreamSet`, computed
from NAME's own rows in the same stream: NAME's recent rows (date, close, return, log range),
the columns they give each other instrument's row of the same day, and their saved state."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.calendar import Calendar, last_session
from gatecast.errors import DataError, ModelFileError
from gatecast.serve.observations import order_key


class InstrumentSource:
    """One ``instrument:NAME`` covariate of a set: NAME's recent rows (date, close, return,
    log range) and the columns they give."""

    keep = 32  # rows of NAME kept: more than MAX_AGE's days of rows

    def __init__(self, spec: str, name: str, columns: tuple[str, ...], column: str) -> None:
        self.spec, self.name, self.columns, self.column = spec, name, columns, column
        self.rows: list[tuple[pd.Timestamp, float, float, float]] = []
        self.first: pd.Timestamp | None = None  # NAME's first row ever seen

    def record(
        self, when: pd.Timestamp, observation: Any
    ) -> tuple[pd.Timestamp, float, float, float]:
        """NAME's row at ``when`` as a record (not kept yet): its return from the last row kept
        (NaN for its first) and its log Parkinson range; a DataError naming what is wrong."""
        from gatecast.data.features import PARKINSON_FACTOR
        from gatecast.data.sources import normalise_name

        row = {normalise_name(k): v for k, v in dict(observation).items()}
        wanted = (self.column, "high", "low")
        values = []
        for c in wanted:
            v = row.get(c, row.get("price") if c == self.column else None)
            try:
                x = float(v)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                x = math.nan
            if not (math.isfinite(x) and x > 0):
                raise DataError(
                    f"the model reads the covariate {self.spec!r}, {self.name}'s return and range "
                    f"from its own rows, and the row of {self.name} on {when:%Y-%m-%d} has no "
                    f"positive {c} ({v!r}): give its {', '.join(wanted)}; the stream is unchanged"
                )
            values.append(x)
        close, high, low = values
        if high < low:
            raise DataError(
                f"{self.name}'s row of {when:%Y-%m-%d} has high {high:g} < low {low:g}: the "
                f"range of the covariate {self.spec!r} needs high >= low; the stream is unchanged"
            )
        last = self.rows[-1] if self.rows else None
        ret = 100.0 * math.log(close / last[1]) if last is not None else math.nan
        hl = math.log(high / low)
        rng = math.log(max(1e4 * PARKINSON_FACTOR * hl * hl, 1e-4))
        return when, close, ret, rng

    def commit(self, record: tuple[pd.Timestamp, float, float, float]) -> None:
        if self.rows and record[0] <= self.rows[-1][0]:
            return
        self.rows = [*self.rows[-(self.keep - 1) :], record]
        if self.first is None:
            self.first = record[0]

    def values_at(
        self,
        key: str,
        when: pd.Timestamp,
        pending: tuple[pd.Timestamp, float, float, float] | None,
        calendar: Calendar | None = None,
    ) -> tuple[float, float] | None:
        """NAME's return and range as of ``when``'s close (its last row on or before it), None
        when the join leaves the row out (before NAME's first return); a DataError when NAME's
        row of ``when`` has not come yet or the value is older than MAX_AGE.

        With an exchange ``calendar`` (NAME's: the model's), a day that is not one of its
        sessions needs no row of NAME: NAME's row of the session before it is the one due."""
        from gatecast.data.covariates import MAX_AGE

        rows = [*self.rows, pending] if pending is not None else self.rows
        first = self.first if self.first is not None else (rows[0][0] if rows else None)
        if first is not None and when < first:
            return None  # before NAME's first row: left out, as the join leaves it out
        due = last_session(calendar, when)  # a holiday of NAME: its session before
        if not rows or rows[-1][0] < due:
            seen = f"its last row is of {rows[-1][0]:%Y-%m-%d}" if rows else "none has come"
            holiday = (
                f" ({when:%Y-%m-%d} is not a {calendar.name} session: its last session before is "
                f"{due:%Y-%m-%d})"
                if due != when and calendar is not None
                else ""
            )
            tell = (
                f"a day that is not a {calendar.name} session needs no row of {self.name}"
                if calendar is not None and calendar.exchange and not calendar.intraday
                else f"on a day {self.name} does not trade, give the row's "
                f"{', '.join(self.columns)} yourself (or stream with an exchange --calendar)"
            )
            raise DataError(
                f"the row of {key} on {when:%Y-%m-%d} reads {self.name}'s return and range as "
                f"of that close (covariate {self.spec!r}), and {self.name}'s row of "
                f"{due:%Y-%m-%d}{holiday} has not come ({seen}): send {self.name}'s row of a day "
                f"before (or in the same tick as) the other rows of that day; {tell}. The stream "
                f"is unchanged"
            )
        before = [r for r in rows if r[0] <= when]
        if not before:
            raise DataError(
                f"the row of {key} on {when:%Y-%m-%d} is older than the rows of {self.name} the "
                f"stream keeps (covariate {self.spec!r}): give its {', '.join(self.columns)} "
                f"yourself; the stream is unchanged"
            )
        day, _, ret, rng = before[-1]
        if when - day > MAX_AGE:
            raise DataError(
                f"covariate {self.spec!r} has no value within {MAX_AGE.days} days before "
                f"{when:%Y-%m-%d} ({self.name}'s last row before it is of {day:%Y-%m-%d}); the "
                f"stream is unchanged"
            )
        if math.isnan(ret):
            return None  # NAME's first row: no return yet, left out as the join leaves it out
        return ret, rng


class InstrumentSources:
    """The ``instrument:NAME`` covariates of a set's model, computed from NAME's own rows in the
    same set: a row of day t that lacks NAME's columns gets NAME's return and log range as of
    t's close (NAME's row of t, else its last before t), once NAME's row of t (or a later one)
    has come; before NAME's first return, rows are left out as the join leaves them out."""

    def __init__(self, sources: list[InstrumentSource], owner: Any = None) -> None:
        self.sources = sources
        #: What holds the calendar of the sources' days (the set: ``owner.calendar``, the
        #: model's unless set); an exchange's tells a holiday of NAME from a row not sent yet.
        self.owner = owner

    @property
    def calendar(self) -> Calendar | None:
        cal: Calendar | None = getattr(self.owner, "calendar", None)
        return cal

    @classmethod
    def of(
        cls, spec: Any, groups: Sequence[str] | None = None, owner: Any = None
    ) -> InstrumentSources | None:
        from gatecast.data.covariates import covariate_group, instrument_of

        if groups is None:
            groups = [str(g) for g in spec.info.get("covariate_groups") or ()]
        column = spec.column or "close"
        found = [
            InstrumentSource(g, name, covariate_group(g).columns, column)
            for g in groups
            if (name := instrument_of(g)) is not None
        ]
        return cls(found, owner) if found else None

    @staticmethod
    def _when(key: str, observation: Any, at: Any) -> pd.Timestamp:
        from gatecast.serve.observations import row_key

        if at is None and isinstance(observation, Mapping | pd.Series):
            found = row_key(observation)
            at = found[1] if found is not None else None
        if at is None or isinstance(at, int | np.integer):
            raise DataError(
                "the model reads another instrument's return and range (instrument:...), "
                "joined by date: give the row a date (a date column, or at=date)"
            )
        when = order_key(at)
        assert isinstance(when, pd.Timestamp)
        return when

    def pending(self, observations: Mapping[str, Any], at: Any) -> dict[str, Any]:
        """Each source instrument's row of this tick as a record, or the DataError it raises."""
        out: dict[str, Any] = {}
        for s in self.sources:
            if s.name in observations:
                obs = observations[s.name]
                try:
                    if not isinstance(obs, Mapping | pd.Series):
                        raise DataError(
                            f"the model reads the covariate {s.spec!r}: {s.name}'s row needs "
                            f"its {s.column}, high and low, not a bare price"
                        )
                    when = self._when(s.name, obs, at)
                    if s.rows and when <= s.rows[-1][0]:
                        continue  # not after NAME's last row: its stream refuses it
                    out[s.name] = s.record(when, obs)
                except DataError as exc:
                    out[s.name] = exc
        return out

    def fill(self, key: str, observation: Any, at: Any, pending: dict[str, Any]) -> Any:
        """``observation`` with the sources' columns added (those it carries are kept), or None
        when the join would leave the row out; a DataError when it must wait or is wrong."""
        from gatecast.data.sources import normalise_name

        if key in pending and isinstance(pending[key], DataError):
            raise pending[key]
        if not isinstance(observation, Mapping | pd.Series):
            return observation  # the stream refuses a bare price for a model with covariates
        have = {normalise_name(k) for k in observation}
        row: dict[Any, Any] | None = None
        for s in self.sources:
            if any(c in have for c in s.columns):
                continue  # given by the sender (the reader refuses one left out, by name)
            when = self._when(key, observation, at)
            p = pending.get(s.name)
            if isinstance(p, DataError):
                raise DataError(
                    f"it reads {s.name}'s row of this tick (covariate {s.spec!r}), which is "
                    f"refused: {p}"
                )
            values = s.values_at(key, when, p, self.calendar)
            if values is None:
                return None
            row = dict(observation) if row is None else row
            row.update(zip(s.columns, values, strict=True))
        return observation if row is None else row

    def state(self) -> dict[str, Any]:
        """Each source's rows kept, as JSON: ``{spec: {"first": date, "rows": [[date, close,
        return, range], ...]}}`` (a NaN return as null)."""
        return {
            s.spec: {
                "first": None if s.first is None else s.first.isoformat(),
                "rows": [
                    [d.isoformat(), c, None if math.isnan(r) else r, g] for d, c, r, g in s.rows
                ],
            }
            for s in self.sources
        }

    def read_state(self, doc: Any, where: str) -> dict[str, Any]:
        """The sources' rows of a saved state, checked (a ModelFileError naming what is wrong);
        a state without them (saved before any row came) restores none."""
        out: dict[str, Any] = {}
        if doc is None:
            return out
        try:
            for s in self.sources:
                part = doc.get(s.spec) if isinstance(doc, dict) else None
                if part is None:
                    continue
                rows = [
                    (
                        pd.Timestamp(d),
                        float(c),
                        math.nan if r is None else float(r),
                        float(g),
                    )
                    for d, c, r, g in part["rows"]
                ]
                first = None if part["first"] is None else pd.Timestamp(part["first"])
                out[s.spec] = (first, rows)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ModelFileError(
                f"{where} is malformed: its rows of the covariate instruments ({exc})"
            ) from None
        return out

    def restore(self, saved: dict[str, Any]) -> None:
        for s in self.sources:
            if s.spec in saved:
                s.first, s.rows = saved[s.spec]

    def commit(self, pending: dict[str, Any], done: set[str]) -> None:
        """Keep the source rows of this tick that the set took (or left out as the join does)."""
        for s in self.sources:
            rec = pending.get(s.name)
            if s.name in done and rec is not None and not isinstance(rec, DataError):
                s.commit(rec)

"""The StreamSet's columnar tick: each instrument's bookkeeping as a row of arrays
(:class:`Columns`), and the tick of many instruments' prices checked, turned into features and
committed in those arrays (:class:`ColumnarTicks`, a base of
:class:`~gatecast.serve.streamset.StreamSet`), giving what the general, per-instrument path
gives or, wherever a row would be refused, handing the tick back to it."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.calendar import Calendar
from gatecast.errors import DataError
from gatecast.inference.engines import BatchEngine
from gatecast.serve.observations import TICK_RATIO, OrderKey, order_key
from gatecast.serve.stream import Stream

__all__ = ["VECTOR_FEATURES", "ColumnarTicks", "Columns", "order_number"]

#: Features the vectorised tick computes from the last two prices (others take the general path).
VECTOR_FEATURES = frozenset({"return", "abs_return", "squared_return", "price"})

#: ``Columns.last_kind``: no row yet, a sequence number, a date, or one the columns cannot
#: compare (a sequence number past int64, a date outside pandas' nanosecond range).
NO_ORDER, SEQUENCE, DATE, UNORDERED = 0, 1, 2, 3
_INT64_MAX = int(np.iinfo(np.int64).max)


def order_number(key: OrderKey) -> tuple[int, int]:
    """A row's order key as (kind, int64) for the columns' comparisons."""
    if isinstance(key, int):
        return (SEQUENCE, key) if key <= _INT64_MAX else (UNORDERED, 0)
    try:
        return DATE, int(key.value)  # nanoseconds: ordered as the dates are
    except OverflowError:
        return UNORDERED, 0


class Columns:
    """Each instrument's bookkeeping as a row of arrays, so that a tick of thousands of
    instruments is a few array operations (:meth:`ColumnarTicks._vector_tick`): the counts of a
    :class:`Stream`, its last order key (with a numeric copy to compare), whether it accepts
    replays, and its last two prices.

    ``price`` is authoritative for the rows where ``current`` is set; otherwise the stream's own
    history is (see ``gatecast.serve.streamset._Member.online``), and ``warm`` (every feature defined on the next price)
    is read again from it before the next vectorised tick."""

    def __init__(self, rows: int) -> None:
        self.ticks = np.zeros(rows, np.int64)
        self.valid = np.zeros(rows, np.int64)
        self.last = np.full(rows, None, dtype=object)
        self.last_kind = np.zeros(rows, np.int8)
        self.last_num = np.zeros(rows, np.int64)
        self.replay = np.zeros(rows, bool)
        self.price = np.full((rows, 2), np.nan)
        self.current = np.zeros(rows, bool)
        self.warm = np.zeros(rows, bool)

    def _arrays(self) -> list[str]:
        return list(vars(self))

    def grow(self, rows: int) -> None:
        for name in self._arrays():
            a = getattr(self, name)
            out = np.full((rows, *a.shape[1:]), None if a.dtype == object else 0, a.dtype)
            out[: len(a)] = a
            setattr(self, name, out)

    def clear(self, row: int) -> None:
        for name in self._arrays():
            getattr(self, name)[row] = None if name == "last" else 0
        self.price[row] = np.nan

    def move(self, src: int, dst: int) -> None:
        for name in self._arrays():
            a = getattr(self, name)
            a[dst] = a[src]


class ColumnarTicks:
    """The vectorised tick of a :class:`~gatecast.serve.streamset.StreamSet` and the moves of
    its last prices between the columns and the instruments' streams. The set holds the
    attributes declared here (its instruments, their rows, the state arrays and the columns)
    and the model's ``template``, ``engine`` and ``calendar``."""

    streams: Mapping[str, Stream]
    missed: dict[str, list[OrderKey]]
    max_gap: int | None
    max_ahead: pd.Timedelta | None
    _rows: dict[str, int]  # instrument -> its row in the state arrays
    _keys: list[str]  # row -> instrument
    _h: np.ndarray
    _c: np.ndarray
    _cols: Columns
    _vector: bool  # whether the model's ticks can run in arrays
    _last_tick: tuple[list[str], np.ndarray]
    _next_bar: dict[int, int]  # a date's next bar (ns)

    @property
    def template(self) -> Stream:
        """The stream whose model and engine serve every instrument (the set's)."""
        raise NotImplementedError

    @property
    def engine(self) -> BatchEngine:
        """The engine that runs every instrument's ticks (the set's)."""
        raise NotImplementedError

    @property
    def calendar(self) -> Calendar | None:
        """The trading calendar that says which bar comes next (the set's)."""
        raise NotImplementedError

    def _vector_tick(self, observations: Mapping[str, Any], at: Any) -> dict[str, float] | None:
        """The whole tick in arrays, for the common case: a sequence model whose features are
        computed from the last two prices (:data:`VECTOR_FEATURES`), a number for every
        instrument, and every instrument already in the set and warmed up. Returns None, having
        changed nothing, wherever that does not hold or any row would be refused: the general
        path then runs the tick and gives the same answer, and the same error.

        The instruments' counts, last dates and last two prices are columns of the set
        (:class:`Columns`), so no instrument's :class:`Stream` object is touched here."""
        template = self.template
        if not self._vector:
            return None
        keys = list(observations)
        last_keys, rows = self._last_tick
        if keys != last_keys:  # a market ticks the same names tick after tick: rows kept
            try:
                rows = np.fromiter(map(self._rows.__getitem__, keys), np.intp, len(keys))
            except KeyError:  # an instrument joins: the general path adds it
                return None
            self._last_tick = (keys, rows)
        try:  # numbers only (as the general path reads them); text or mappings go there
            price = np.array(list(observations.values()))
        except (OverflowError, ValueError, TypeError):
            return None
        if price.dtype != np.float64 or price.ndim != 1:
            return None
        cols = self._cols
        for r in rows[~cols.current[rows]].tolist():  # rows a general tick touched since
            self._pull(r)
        if not cols.warm[rows].all():
            return None  # still warming up
        spec, reader, online = template.spec, template.reader, template.online
        order: OrderKey | None = None
        kind, num = 0, 0
        skipped: dict[str, list[OrderKey]] = {}
        if at is not None:
            try:
                order = order_key(at)
            except DataError:
                return None
            kind, num = order_number(order)
            lk, ln = cols.last_kind[rows], cols.last_num[rows]
            after = (lk == 0) | ((lk == kind) & (ln < num)) | cols.replay[rows]
            if kind == UNORDERED or not after.all():
                return None
            found = self._skipped(keys, order, kind, num, lk, ln)
            if found is None:
                return None  # too far ahead: the general path refuses the row
            skipped = found
        prev = cols.price[rows, 1]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if not np.isfinite(price).all() or (reader.positive and (price <= 0).any()):
                return None
            if (np.abs(price) < sys.float_info.min)[price != 0].any():
                return None  # subnormal
            both = (prev > 0) & (price > 0)
            ratio = price[both] / prev[both]
            if ((ratio < 1 / TICK_RATIO) | (ratio > TICK_RATIO)).any():
                return None
            Z = np.empty((len(keys), len(spec.features)))
            for j, name in enumerate(spec.features):
                if name == "price":
                    v = price
                else:
                    r = np.log(price / prev) if spec.units.log else price / prev - 1.0
                    if spec.units.percent:
                        r = 100.0 * r
                    v = r if name == "return" else np.abs(r) if name == "abs_return" else r * r
                Z[:, j] = (v - online.shift[j]) / online.scale[j]
        if not np.isfinite(Z).all():
            return None
        # every row passes: commit them all, as Stream._take and _commit would
        self.missed = skipped
        cols.price[rows, 0] = prev
        cols.price[rows, 1] = price
        cols.ticks[rows] += 1
        cols.valid[rows] += 1
        if order is not None:
            cols.last[rows] = order
            cols.last_kind[rows], cols.last_num[rows] = kind, num
        B = len(rows)
        if B == len(self._keys) and rows[0] == 0 and (rows[1:] - rows[:-1] == 1).all():
            raw = self.engine.step_many(Z, self._h[:B], self._c[:B])  # every row: in place
        else:
            h, c = self._h[rows], self._c[rows]
            raw = self.engine.step_many(Z, h, c)
            self._h[rows], self._c[rows] = h, c
        if spec.output == "value":
            scale = float(np.asarray(spec.target_scaler.scale_)[0])
            shift = float(np.asarray(spec.target_scaler.shift_)[0])
            return dict(zip(keys, (raw * scale + shift).tolist(), strict=True))
        nan = math.nan
        return {
            k: template._forecast(r, (p, nan, nan, nan))
            for k, r, p in zip(keys, raw.tolist(), price.tolist(), strict=True)
        }

    def _skipped(
        self, keys: list[str], order: OrderKey, kind: int, num: int, lk: np.ndarray, ln: np.ndarray
    ) -> dict[str, list[OrderKey]] | None:
        """The bars each instrument's row at ``order`` skips (those that skip any), as
        :meth:`Stream._check_ahead` finds them; None where a row is past the clock or skips
        more than ``max_gap`` (the general path then refuses it). ``lk``, ``ln``: the kinds and
        numbers of the instruments' last rows."""
        if kind == DATE and self.max_ahead is not None:  # num: the date in ns (see _order_number)
            if num > time.time_ns() + self.max_ahead.value:
                return None
        gap = self.max_gap
        same = lk == kind
        if gap is None or not same.any():
            return {}
        if kind == SEQUENCE:
            if not (ln[same] + gap + 1 >= num).all():
                return None
            skips = same & (ln + 1 < num)
            return {
                keys[i]: list(range(int(ln[i]) + 1, num)) for i in np.flatnonzero(skips).tolist()
            }
        cal = self.calendar
        if cal is None or not cal.dated:
            return {}
        assert isinstance(order, pd.Timestamp)
        key = (order if cal.intraday else order.normalize()).as_unit("ns").value
        cache = self._next_bar
        if len(cache) > 1024:
            cache.clear()
        out: dict[str, list[OrderKey]] = {}
        for last in np.unique(ln[same]).tolist():
            nxt = cache.get(last)
            try:
                if nxt is None:
                    first = cal.after(pd.Timestamp(last), 1)[0]
                    nxt = cache[last] = pd.Timestamp(first).as_unit("ns").value
                if key <= nxt:
                    continue  # the next bar (or before it): nothing skipped
                missed, beyond = cal.bars_between(pd.Timestamp(last), order, gap)
            except DataError:
                return None
            if beyond:
                return None
            for i in np.flatnonzero(same & (ln == last)).tolist():
                out[keys[i]] = list(missed)
        return out

    def _pull(self, row: int) -> None:
        """Instrument ``row``'s last prices into the columns, from its stream's history (which a
        general tick, a reset or a restore may have changed); the columns hold it from now on."""
        cols = self._cols
        member: Any = self.streams[self._keys[row]]  # the set's member, with its own history
        history = member._online.history  # the object itself, not the syncing property
        prices = [obs[0] for obs in history]
        cols.price[row] = ([math.nan] * 2 + prices)[-2:]
        size = self.template.online.size
        cols.warm[row] = cols.valid[row] > 0 and len(history) == size
        cols.current[row] = True

    def _push(self, row: int) -> None:
        """The columns' last prices back into instrument ``row``'s stream history."""
        cols = self._cols
        member: Any = self.streams[self._keys[row]]
        history = member._online.history
        history.clear()
        nan = math.nan
        for p in cols.price[row].tolist():
            if not math.isnan(p):
                history.append((p, nan, nan, nan))
        cols.current[row] = False

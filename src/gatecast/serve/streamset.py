"""A whole market per tick: many instruments on one model, their states in one array, each tick
one batched step for the instruments that traded (a tick of many prices runs in arrays:
:mod:`gatecast.serve.columnar_tick`)."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import pandas as pd

from gatecast.artifacts import decode_state, encode_state, write_state
from gatecast.data.calendar import Calendar
from gatecast.data.features import Obs
from gatecast.errors import ConfigError, DataError, ModelFileError
from gatecast.inference.engines import BatchEngine, InstrumentEngine, NumpyEngine
from gatecast.serve.columnar_tick import NO_ORDER, ColumnarTicks, Columns, order_number
from gatecast.serve.columnar_tick import VECTOR_FEATURES as VECTOR_FEATURES
from gatecast.serve.instrument_sources import InstrumentSources
from gatecast.serve.intervals import Bands, check_band_levels
from gatecast.serve.observations import OrderKey, order_key
from gatecast.serve.stream import (
    MAX_AHEAD,
    MAX_GAP,
    STATE_FORMAT,
    STATE_VERSION,
    Stream,
)

#: What ``update_many`` does with an instrument whose row is refused.
OnError = Literal["raise", "skip"]
SET_FORMAT = STATE_FORMAT + "-set"
#: Version-3 sets kept each instrument's arrays apart ("0.h", "0.c", ...); "stacked" sets keep
#: one array per kind, one row per instrument, in the order of the metadata's streams.
STACKED = "stacked"


class StreamSet(ColumnarTicks):
    """Streams keyed by instrument (``"SPX"``, ``"NDX"``, ...) on one model, ticked together.

    Every instrument has its own :class:`Stream` (observation reader, online features,
    exactly-once order, counts), but the set keeps what a tick touches as columns, a row per
    instrument: the recurrent states in one ``(n, layers, hidden)`` array (and one for the
    LSTM's c), the counts, last dates and last prices in others. A tick of any subset, ``update_many({key: observation})``,
    checks each instrument's row, then runs one batched step for all of them (sequence mode) or
    one batched forward of their windows (window mode), and writes the states back.

    Parameters
    ----------
    make_stream
        A function returning a fresh :class:`Stream`, e.g. ``model.stream`` or
        ``load_numpy(folder).stream``. It is called once: its model, engine and fingerprint serve
        every instrument (the engine must have ``step_many``, as the NumPy and torch engines do).
    stream_for
        For a model that differs per instrument (a global model over a panel: each instrument
        its own scaler and biases, :meth:`GlobalRecurrentVariance.stream_set`): a function of
        the instrument giving its own fresh :class:`Stream`, called once when it joins. Every
        such stream must have the template's shape (cell, layers, hidden, mode, window,
        features); the instruments' network steps then run one instrument at a time, not
        batched, and the vectorised tick and intervals are not available. When every stream's
        engine is an :class:`~gatecast.inference.engines.InstrumentEngine` view of one shared
        engine (a global model read by :func:`gatecast.serve.load_global_numpy`), a tick's
        windows run as one batched forward of the shared weights, each row with its own biases.

    Notes
    -----
    A tick is all or nothing. Each row is checked as :meth:`Stream.update` checks it (missing or
    NaN values, a price 1000x off, a replayed or earlier date); with ``errors="raise"`` (the
    default) the first refused row raises its :class:`gatecast.errors.DataError`, naming the
    instrument, and no instrument changes (instruments the tick would have added are not added).
    With ``errors="skip"`` the refused instruments are left unchanged, their errors are in
    :attr:`rejected`, and the others tick. Never a silent partial update.

    A tick of many instruments (``vector_min`` or more) of a sequence model on prices alone
    (features in :data:`VECTOR_FEATURES`), every price a float and every instrument warmed up,
    runs in arrays: the checks, the features and the commit are one pass of NumPy, not a Python
    call per instrument. It gives what the general path gives; any row the general path would
    refuse sends the whole tick there, so errors are exactly its errors.

    Rows dated too far ahead are refused as a :class:`Stream` refuses them (``max_gap`` bars of
    ``calendar``, ``max_ahead`` past the clock; set them on the set, for every instrument); the
    instruments whose rows skipped bars within the allowance are in :attr:`missed` after the
    tick.

    Instruments join on first use (or :meth:`add`) and leave with :meth:`remove`; the state of the
    whole set saves to one file (:meth:`state`, :meth:`save_state`) and resumes with
    :meth:`load_state`, each instrument keeping its last date or sequence number.

    Examples
    --------
    >>> streams = StreamSet(load_numpy("models/spx").stream)  # doctest: +SKIP
    >>> streams.update_many({"SPX": 2711.3, "NDX": 6635.3}, at="2018-03-01")  # doctest: +SKIP
    {'SPX': nan, 'NDX': nan}
    >>> streams.update_many({"SPX": 2718.9}, at="2018-03-02")  # only SPX traded  # doctest: +SKIP
    {'SPX': 0.00041}
    """

    #: Ticks of at least this many instruments try the vectorised path (``_vector_tick``).
    vector_min = 16

    def __init__(
        self,
        make_stream: Callable[[], Stream],
        *,
        interval: float | None = None,
        quantiles: Sequence[float] | None = None,
        stream_for: Callable[[str], Stream] | None = None,
    ) -> None:
        check_band_levels(interval, quantiles)
        if stream_for is not None and (interval is not None or quantiles):
            raise ConfigError(
                "a StreamSet with a model per instrument (stream_for) has no intervals yet: "
                "leave out interval and quantiles"
            )
        self.make_stream = make_stream
        self.stream_for = stream_for
        #: Calibrated intervals per instrument (``interval``/``quantiles``), and the columns of
        #: each instrument's last tick (see :class:`gatecast.serve.intervals.Bands`).
        self.band_levels = (interval, tuple(quantiles) if quantiles else None)
        self._bands: Bands | None = None  # restarted from the record once, copied per instrument
        self.bands: dict[str, dict[str, float]] = {}
        self.streams: dict[str, _Member] = {}
        #: The rows refused by the last ``update_many(..., errors="skip")``, by instrument.
        self.rejected: dict[str, DataError] = {}
        #: The bars each instrument's row skipped in the last tick (only those that skipped).
        self.missed: dict[str, list[OrderKey]] = {}
        #: Bars a row may skip, and how far past the current UTC time it may be dated (None: no
        #: limit), for every instrument (see :class:`Stream`).
        self.max_gap: int | None = MAX_GAP
        self.max_ahead: pd.Timedelta | None = MAX_AHEAD
        self._calendar: Calendar | str | None = "model"  # the model's until set
        self._next_bar: dict[int, int] = {}  # a date's next bar (ns), for the vectorised tick
        self._allow_replay = False
        self._template: Stream | None = None
        self._rows: dict[str, int] = {}  # instrument -> its row in the state arrays
        self._keys: list[str] = []  # row -> instrument
        self._h = np.zeros((0, 0, 0))
        self._c = np.zeros((0, 0, 0))
        self._cols = Columns(0)  # each instrument's counts, last date and last prices
        self._vector = False  # whether the model's ticks can run in arrays (see _vector_tick)
        # the instruments of the last vectorised tick and their rows (rows move on a removal)
        self._last_tick: tuple[list[str], np.ndarray] = ([], np.zeros(0, np.intp))
        self._sources: InstrumentSources | None = None
        self._sources_checked = False
        #: The covariate groups of the model (None: those its spec records); a group
        #: ``instrument:NAME`` is computed from NAME's own rows in this set when a row lacks it.
        self.covariate_groups: tuple[str, ...] | None = None

    # -- the model every instrument runs -----------------------------------------------------
    @property
    def template(self) -> Stream:
        """The stream ``make_stream`` gave, whose model and engine serve every instrument."""
        if self._template is None:
            first = self.make_stream()
            if not hasattr(first.engine, "step_many"):
                raise ConfigError(
                    f"a StreamSet needs an engine with step_many (NumpyEngine, TorchEngine); "
                    f"{type(first.engine).__name__} has none"
                )
            self._template = first
            spec = first.spec
            dtype = getattr(first.engine, "dtype", np.float64)
            self._h = np.zeros((4, spec.layers, spec.hidden), dtype)
            self._c = np.zeros_like(self._h)
            self._cols = Columns(4)
            self._vector = (
                self.stream_for is None
                and spec.mode == "sequence"
                and not spec.hybrid
                and not spec.covariates
                and first.reader.fields == ("price",)
                and first.online.size <= 2
                and set(spec.features) <= VECTOR_FEATURES
            )
        return self._template

    @property
    def engine(self) -> BatchEngine:
        """The engine that runs every instrument's ticks."""
        engine: BatchEngine = self.template.engine  # type: ignore[assignment]
        return engine

    @property
    def calendar(self) -> Calendar | None:
        """The trading calendar that says which bar comes next (the model's unless set)."""
        if isinstance(self._calendar, str):
            return self.template.spec.calendar
        return self._calendar

    @calendar.setter
    def calendar(self, value: Calendar | None) -> None:
        self._calendar = value
        self._next_bar = {}

    @property
    def allow_replay(self) -> bool:
        """Whether every instrument accepts replayed or earlier rows (off by default)."""
        return self._allow_replay

    @allow_replay.setter
    def allow_replay(self, value: bool) -> None:
        self._allow_replay = value
        for s in self.streams.values():
            s.allow_replay = value

    # -- instruments joining and leaving -------------------------------------------------------
    def add(self, key: str) -> Stream:
        """Instrument ``key``'s stream, added with a fresh state if it is new."""
        stream = self.streams.get(key)
        if stream is not None:
            return stream
        template = self.template
        spec, engine, fingerprint = template.spec, self.engine, template.fingerprint
        if self.stream_for is not None:  # before anything changes: it may refuse the instrument
            own = self.stream_for(key)
            _check_same_shape(template, own, key)
            spec, fingerprint = own.spec, own.fingerprint
            engine = own.engine  # type: ignore[assignment]  # step_many: checked just above
        n = len(self._keys)
        if n == len(self._h):  # grow by half again: amortised O(1) joins
            grown = max(4, n + n // 2)
            self._h = _grown(self._h, grown)
            self._c = _grown(self._c, grown)
            self._cols.grow(grown)
        self._rows[key] = n
        self._keys.append(key)
        self._cols.clear(n)
        stream = _Member(self, key, spec, _RowEngine(self, key, engine), fingerprint)
        stream.allow_replay = self._allow_replay
        interval, quantiles = self.band_levels
        if interval is not None or quantiles:
            if self._bands is None:
                self._bands = Bands.of_spec(template.spec, "the set's model", interval, quantiles)
            stream.bands = copy.deepcopy(self._bands)
        self.streams[key] = stream
        return stream

    def remove(self, key: str) -> None:
        """Instrument ``key`` leaves the set (its state is dropped); a KeyError if absent."""
        if key not in self.streams:
            raise KeyError(f"instrument {key!r} is not in this StreamSet")
        self._last_tick = ([], np.zeros(0, np.intp))
        row, last = self._rows.pop(key), len(self._keys) - 1
        moved = self._keys.pop()
        if moved != key:  # the last row fills the gap
            self._h[row], self._c[row] = self._h[last], self._c[last]
            self._cols.move(last, row)
            self._keys[row] = moved
            self._rows[moved] = row
        del self.streams[key]

    def __getitem__(self, key: str) -> Stream:
        return self.add(key)

    def __delitem__(self, key: str) -> None:
        self.remove(key)

    def __contains__(self, key: object) -> bool:
        return key in self.streams

    def __iter__(self) -> Iterator[str]:
        return iter(self.streams)

    def __len__(self) -> int:
        return len(self.streams)

    # -- ticks ---------------------------------------------------------------------------------
    def update(self, key: str, observation: Any, at: Any = None) -> float:
        """The forecast for instrument ``key`` after its new observation (see ``update_many``)."""
        return self.update_many({key: observation}, at)[key]

    def update_many(
        self, observations: Mapping[str, Any], at: Any = None, *, errors: OnError = "raise"
    ) -> dict[str, float]:
        """One tick for the instruments that traded: ``{key: observation}`` -> ``{key: forecast}``.

        Parameters
        ----------
        observations
            Each instrument's observation, as :meth:`Stream.update` takes it (a price, or a
            mapping of columns, possibly with its own ``date``/``seq``).
        at
            The date or sequence number of this tick's rows (else each row's own, if any).
        errors
            ``"raise"``: a refused row raises its DataError, naming the instrument, and no
            instrument changes. ``"skip"``: refused instruments are left unchanged and listed in
            :attr:`rejected`; the rest tick, and only they are in the result.

        Returns
        -------
        dict
            The forecast of each instrument that ticked (NaN while it warms up).
        """
        if errors not in ("raise", "skip"):
            raise ConfigError(f"errors={errors!r} is unknown; choose 'raise' or 'skip'")
        self.rejected = {}
        self.missed = {}
        self.bands = {}
        if len(observations) >= self.vector_min:
            done = self._vector_tick(observations, at)
            if done is not None:
                if self._bands is not None:  # the rows were floats dated ``at``
                    when = None if at is None else order_key(at)
                    for key, f in done.items():
                        self._band(key, float(observations[key]), f, when)
                return done
        out = self._general_tick(observations, at, errors)
        if self._bands is not None:
            for key, f in out.items():
                s = self.streams[key]
                self._band(key, float(s.online.history[-1][0]), f, s._row_key)
        return out

    # The bands run per instrument in Python after the batched network step (each has its own
    # alpha_t and score window, a sort per level a tick): the vectorised tick keeps its network.
    def _band(self, key: str, price: float, forecast: float, when: OrderKey | None) -> None:
        s = self.streams[key]
        s.band = self.bands[key] = s.bands.update(price, forecast, when)

    def _general_tick(
        self, observations: Mapping[str, Any], at: Any, errors: OnError
    ) -> dict[str, float]:
        new = [k for k in observations if k not in self.streams]
        taken: list[tuple[str, Stream, OrderKey | None, Obs, bool]] = []
        sources = self._instrument_sources()  # instrument:NAME covariates, from NAME's rows
        pending = sources.pending(observations, at) if sources is not None else {}
        left: list[str] = []  # rows the join leaves out (before NAME's first return)
        for key, observation in observations.items():
            try:
                stream = self.add(key)  # in the try: a model per instrument may refuse it
                if sources is not None:
                    observation = sources.fill(key, observation, at, pending)
                    if observation is None:
                        left.append(key)
                        continue
                order, obs, finite = stream._take(observation, at)
            except BaseException as exc:
                if errors == "skip" and isinstance(exc, DataError):
                    self.rejected[key] = exc
                    continue
                for _, s, *_ in taken:  # every row taken so far is given back
                    s.online.undo()
                for k in new:
                    if k in self.streams:  # added before the refused row came up
                        self.remove(k)
                if isinstance(exc, DataError):
                    raise type(exc)(
                        f"instrument {key!r}: {exc} (no instrument of this tick was updated)"
                    ) from exc
                raise
            taken.append((key, stream, order, obs, finite))
        for k in new:
            if k in self.rejected and k in self.streams:  # one refused by stream_for never joined
                self.remove(k)
        if sources is not None:
            sources.commit(pending, {t[0] for t in taken} | set(left))
        out = dict.fromkeys([t[0] for t in taken] + left, math.nan)
        run = [(key, stream, obs) for key, stream, order, obs, finite in taken
               if stream._commit(order, finite)]  # fmt: skip
        self.missed = {key: stream.missed for key, stream, *_ in taken if stream.missed}
        if run:
            raw = self._network([k for k, _, _ in run], [s for _, s, _ in run])
            spec = self.template.spec
            if (
                spec.output == "value" and self.stream_for is None
            ):  # the head's output in target units, for all at once
                scale = float(np.asarray(spec.target_scaler.scale_)[0])
                shift = float(np.asarray(spec.target_scaler.shift_)[0])
                out.update(zip([k for k, _, _ in run], (raw * scale + shift).tolist(), strict=True))
            else:
                for (key, stream, obs), r in zip(run, raw.tolist(), strict=True):
                    out[key] = stream._forecast(r, obs)
        return out

    def _instrument_sources(self) -> InstrumentSources | None:
        """The model's ``instrument:NAME`` covariates, computed from NAME's rows (None: none)."""
        if self._sources_checked is False:
            self._sources = InstrumentSources.of(self.template.spec, self.covariate_groups, self)
            self._sources_checked = True
        return self._sources

    def _network(self, keys: list[str], streams: list[Stream]) -> np.ndarray:
        """The head outputs of one batched step (sequence mode) or window forward (window mode)."""
        if self.stream_for is not None:
            shared = _shared_engine(streams)
            if shared is not None:  # views of one set of weights: one batched forward
                views: list[InstrumentEngine] = [s.engine.base for s in streams]  # type: ignore[attr-defined]
                X = np.stack([s._buffer for s in streams])  # (B, window, inputs)
                bias = np.stack([v.bias_ih0 for v in views])  # (B, G*hidden)
                head = np.fromiter((v.head_bias for v in views), np.float64, len(views))
                return shared.forward_windows(X, bias, head)
            # each instrument its own weights: one at a time
            if self.template.spec.mode != "sequence":
                return np.array([s.engine.window(s._buffer) for s in streams])
            return np.array([s.engine.step(s.online.z) for s in streams])
        if self.template.spec.mode != "sequence":  # a window of one runs as Stream runs it
            if len(streams) == 1:
                return np.array([self.engine.window(streams[0]._buffer)])
            return self.engine.forward_windows(np.stack([s._buffer for s in streams]))
        if len(streams) == 1:  # its row in place, no gather
            return np.array([streams[0].engine.step(streams[0].online.z)])
        rows = np.fromiter((self._rows[k] for k in keys), dtype=np.intp, count=len(keys))
        Z = np.stack([s.online.z for s in streams])
        h, c = self._h[rows], self._c[rows]  # gathered copies, (B, layers, hidden)
        raw = self.engine.step_many(Z, h, c)
        self._h[rows], self._c[rows] = h, c
        return raw

    def reset(self, key: str | None = None) -> None:
        """Reset one instrument's stream, or all of them."""
        for k in [key] if key is not None else list(self.streams):
            self[k].reset()

    # -- saving and restoring ------------------------------------------------------------------
    def state(self, format: str = "safetensors") -> bytes | str:
        """The whole set's state in one safetensors blob or JSON string: one array per kind
        (``h``, ``c``, ``buffer``, ``history``), a row per instrument, and each instrument's key,
        counts and last date in the metadata."""
        parts = [s._state_parts() for s in self.streams.values()]
        arrays: dict[str, np.ndarray] = {}
        if parts:
            arrays = {name: np.stack([a[name] for a, _ in parts]) for name in parts[0][0]}
        metas = [m | {"key": key} for key, (_, m) in zip(self.streams, parts, strict=True)]
        meta = {"format": SET_FORMAT, "version": STATE_VERSION, "layout": STACKED, "streams": metas}
        sources = self._instrument_sources()
        if sources is not None:  # the rows of each covariate instrument the next rows read
            meta["sources"] = sources.state()
        return encode_state(arrays, meta, format)

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write the state to ``path`` atomically: JSON if it ends in ``.json``, else safetensors."""
        return write_state(path, self.state)

    def load_state(self, data: bytes | str | os.PathLike[str]) -> StreamSet:
        """Restore the instruments saved by :meth:`state` (others already here are kept).

        All or nothing: every instrument's state is checked (as :meth:`Stream.load_state` checks
        one) before any instrument here changes.
        """
        arrays, meta, where = decode_state(data)
        if meta.get("format") != SET_FORMAT:
            raise ModelFileError(
                f"{where} is not a StreamSet state; use Stream.load_state for one stream"
            )
        metas = meta.get("streams")
        if not isinstance(metas, list) or not all(
            isinstance(m, dict) and isinstance(m.get("key"), str) for m in metas
        ):
            raise ModelFileError(
                f"{where} is malformed: its streams are not a list of keyed states"
            )
        entries = [(m, _own(arrays, meta, i, where)) for i, m in enumerate(metas)]
        interval, quantiles = self.band_levels
        scratch = StreamSet(
            self.make_stream, interval=interval, quantiles=quantiles, stream_for=self.stream_for
        )
        scratch._template, scratch._bands = (
            self.template,
            self._bands,
        )  # the same model; nothing here is touched
        scratch.max_ahead, scratch.allow_replay = self.max_ahead, self.allow_replay
        scratch._h, scratch._c = np.zeros_like(self._h[:0]), np.zeros_like(self._c[:0])
        sources = self._instrument_sources()
        saved = sources.read_state(meta.get("sources"), where) if sources is not None else None
        for target in (scratch, self):  # checked on a scratch set first, then applied
            for m, own in entries:
                target.add(m["key"])._restore(own, m, f"{where} [{m['key']}]")
        if sources is not None and saved is not None:
            sources.restore(saved)
        return self


_T = TypeVar("_T")


class _InColumn(Generic[_T]):
    """A member's count or switch, kept in the set's column ``column`` at the member's row."""

    def __init__(self, column: str, cast: Callable[[Any], _T]) -> None:
        self.column, self.cast = column, cast

    def __get__(self, member: _Member, kind: type | None = None) -> _T:
        return self.cast(getattr(member._owner._cols, self.column)[member._row])

    def __set__(self, member: _Member, value: _T) -> None:
        getattr(member._owner._cols, self.column)[member._row] = value


class _Member(Stream):
    """An instrument's :class:`Stream` inside a set: its counts, last date and replay switch
    are the set's columns, and its recurrent state a row of the set's arrays (``_RowEngine``).
    Its observation history is its own, except after vectorised ticks, which keep the last
    prices in the columns: reading ``online`` brings them back first."""

    def __init__(
        self, owner: StreamSet, key: str, spec: Any, engine: Any, fingerprint: str
    ) -> None:
        self._owner, self._key = owner, key
        super().__init__(spec, engine, fingerprint)

    def _init_checks(self) -> None:
        pass  # the set's: see the properties below

    ticks = _InColumn("ticks", int)
    valid = _InColumn("valid", int)
    allow_replay = _InColumn("replay", bool)

    @property
    def calendar(self) -> Calendar | None:  # type: ignore[override]
        return self._owner.calendar

    @property
    def max_gap(self) -> int | None:  # type: ignore[override]
        return self._owner.max_gap

    @property
    def max_ahead(self) -> pd.Timedelta | None:  # type: ignore[override]
        return self._owner.max_ahead

    @property
    def _row(self) -> int:
        return self._owner._rows[self._key]

    @property
    def online(self) -> Any:
        owner, row = self._owner, self._row
        if owner._cols.current[row]:
            owner._push(row)  # the caller may change the history: the object holds it again
        return self._online

    @online.setter
    def online(self, value: Any) -> None:
        self._online = value

    @property
    def last(self) -> OrderKey | None:
        last: OrderKey | None = self._owner._cols.last[self._row]
        return last

    @last.setter
    def last(self, key: OrderKey | None) -> None:
        cols, row = self._owner._cols, self._row
        cols.last[row] = key
        cols.last_kind[row], cols.last_num[row] = (
            (NO_ORDER, 0) if key is None else order_number(key)
        )


class _RowEngine:
    """One instrument's view of the set's engine: its state is a row of the set's arrays."""

    def __init__(self, owner: StreamSet, key: str, engine: BatchEngine) -> None:
        self.owner, self.key, self.base = owner, key, engine
        self.layers, self.hidden = engine.layers, engine.hidden

    @property
    def _row(self) -> int:
        return self.owner._rows[self.key]

    def forward_windows(self, X: np.ndarray) -> np.ndarray:
        return self.base.forward_windows(X)

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        return self.base.forward_sequence(X)

    def reset(self) -> None:
        self.owner._h[self._row] = 0.0
        self.owner._c[self._row] = 0.0

    def step(self, z: np.ndarray) -> float:
        o, r = self.owner, self._row
        h, c = o._h[r : r + 1], o._c[r : r + 1]  # views: written in place
        return float(self.base.step_many(np.asarray(z)[None], h, c)[0])

    def window(self, Z: np.ndarray) -> float:
        return self.base.window(Z)

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        o, r = self.owner, self._row
        return o._h[r].astype(np.float64), o._c[r].astype(np.float64)

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        o, r = self.owner, self._row
        o._h[r], o._c[r] = h, c


def _check_same_shape(template: Stream, own: Stream, key: str) -> None:
    """Refuse an instrument's own stream unless its network and inputs have the template's shape
    (its state must fit the set's arrays, its rows the set's checks)."""
    names = ("cell", "layers", "hidden", "mode", "window", "features", "covariates")
    a, b = template.spec, own.spec
    differ = [n for n in names if getattr(a, n) != getattr(b, n)]
    if differ or not hasattr(own.engine, "step_many"):
        raise ConfigError(
            f"instrument {key!r}: its stream differs from the set's model in "
            f"{differ or ['engine (no step_many)']}; every instrument of a StreamSet needs the "
            f"same network shape and inputs"
        )


def _shared_engine(streams: list[Stream]) -> NumpyEngine | None:
    """The engine whose weights every stream's :class:`InstrumentEngine` views (a global
    model's instruments, window mode), if there are at least two and they all view one."""
    if len(streams) < 2 or streams[0].spec.mode != "window":
        return None
    first = getattr(streams[0].engine, "base", None)
    if not isinstance(first, InstrumentEngine):
        return None
    shared = first.shared
    for s in streams:
        view = getattr(s.engine, "base", None)
        if not isinstance(view, InstrumentEngine) or view.shared is not shared:
            return None
    return shared


def _grown(a: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows, *a.shape[1:]), a.dtype)
    out[: len(a)] = a
    return out


def _own(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], i: int, where: str
) -> dict[str, np.ndarray]:
    """Instrument ``i``'s arrays, from a stacked set or a version-3 one ("0.h", ...)."""
    if meta.get("layout") != STACKED:
        return {name[len(f"{i}.") :]: v for name, v in arrays.items() if name.startswith(f"{i}.")}
    n = len(meta["streams"])
    if any(np.ndim(v) == 0 or len(v) != n for v in arrays.values()):
        raise ModelFileError(
            f"{where} is malformed: its arrays do not hold one row per stream ({n})"
        )
    return {name: v[i] for name, v in arrays.items()}

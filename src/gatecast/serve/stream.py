"""Live forecasting: one observation per tick in, the next forecast out; states that save and
resume anywhere (safetensors or JSON, never pickle)."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import decode_state, encode_state, write_state
from gatecast.data.calendar import Calendar
from gatecast.data.features import FIELDS, Obs
from gatecast.errors import (
    DataError,
    FutureDateError,
    MissingValueError,
    ModelFileError,
    OutlierError,
    ReplayError,
)
from gatecast.inference.engines import Engine
from gatecast.inference.pipeline import to_target_unit
from gatecast.inference.spec import ModelSpec, weights_fingerprint
from gatecast.serve.observations import (
    TICK_RATIO,
    ObservationReader,
    OnlineFeatures,
    OrderKey,
    order_key,
    row_key,
)

_MIN_NORMAL, _MAX_FLOAT = sys.float_info.min, sys.float_info.max
_LOW = 1 / TICK_RATIO
#: Bars a dated row may skip by default: a trading week of daily bars, more than any unplanned
#: closure or holiday a data calendar misses in a row; a mistyped day, month or year skips more.
MAX_GAP = 5
#: How far past the current time (UTC) a row may be dated by default: local clocks run at most
#: 14 hours ahead of UTC; the rest is margin. A row dated 2099 is refused, even in a replay.
MAX_AHEAD = pd.Timedelta("2D")
STATE_FORMAT = "gatecast-stream"
#: Version 2 keeps the last observations (for rolling features), version 3 the date (or sequence
#: number) of the last row consumed; version 1 and 2 states still load.
STATE_VERSION = 3


class Stream:
    """One instrument's live forecaster: ``update(observation)`` -> forecast ``horizon`` steps ahead.

    Sequence-mode models carry the recurrent state from tick to tick: O(1) work per tick (one step
    of each layer and the head). Window-mode models keep a buffer of the last ``window`` scaled
    inputs and recompute the whole window every tick: O(window) work per tick, the same forecasts
    as ``predict`` (train in ``mode="sequence"`` for O(1) serving).

    Observations are a price (a float) when the model's features need only the price, or a mapping
    (dict, pandas row) of raw columns, names case-insensitive (``Adj Close`` = ``adj_close``): the
    model's price column (else ``adj_close``, ``close``, ``price``, ``value``, else the only one), and
    ``high``/``low`` or ``volume`` when its features use them. A model that reads covariates
    (``spec.covariates``, e.g. ``sp500_return``) takes a mapping with a column per covariate
    beside the prices, each the value known at the row's close (as
    :func:`gatecast.data.covariates.known_at_close` joins it for ``predict``); a row missing
    one is refused, naming the column and the row's date. Until the features are defined (the
    first price has no return) and, in window mode, the window is full, ``update`` returns NaN.

    Build one with ``model.stream()`` (torch or NumPy engine), ``load_numpy(folder).stream()`` or
    ``gatecast.models.recurrent.open_stream(folder)``.

    Exactly once: a row given a date (``update(obs, at=date)``, or a ``date``/``seq`` key in a
    mapping) must come after the last one consumed, which the state records; a replayed, repeated
    or earlier row raises :class:`gatecast.errors.ReplayError` (``allow_replay = True`` for a
    deliberate replay); a row without a date or sequence number cannot be placed and is taken
    as it comes. A price more than 1000x away from the previous one raises
    :class:`gatecast.errors.OutlierError`. Either way the stream is unchanged.

    Not too far ahead: a dated row that skips more than ``max_gap`` bars (default
    :data:`MAX_GAP`) of ``calendar`` after the last row consumed (a sequence number more than
    ``max_gap`` numbers), or is dated more than ``max_ahead`` (default :data:`MAX_AHEAD`) past
    the current UTC time, raises :class:`gatecast.errors.FutureDateError` and leaves the stream
    unchanged. ``calendar`` is the one the model records (None for older folders: then only
    the clock is checked); ``None`` turns a check off. The bars a row skipped within the
    allowance are in :attr:`missed` after its update (empty when none were).

    Examples
    --------
    >>> stream = load_numpy("models/spx").stream()  # doctest: +SKIP
    >>> stream.update(2711.3)  # doctest: +SKIP
    nan
    >>> stream.update({"close": 2718.9, "volume": 3.1e9})  # doctest: +SKIP
    0.00041
    >>> blob = stream.state()  # safetensors bytes; stream.state("json") gives JSON  # doctest: +SKIP
    """

    def __init__(self, spec: ModelSpec, engine: Engine, fingerprint: str) -> None:
        self.allow_replay = False
        self.spec = spec
        self.engine = engine
        self.fingerprint = fingerprint
        self.reader = ObservationReader(spec)
        from gatecast.data.calendar_covariates import tick_filler  # calendar:EXCHANGE groups

        self._fill = tick_filler(spec.info.get("covariate_groups", ()))
        self.online = OnlineFeatures(spec)
        self._sequence = spec.mode == "sequence"
        # the head's output -> target units, as pipeline.to_target_unit, with the constants read once
        self._output = spec.output
        self._residual = spec.residual is not None
        self._scale = float(np.asarray(spec.target_scaler.scale_)[0])
        self._shift = float(np.asarray(spec.target_scaler.shift_)[0])
        self._init_checks()
        #: Calibrated intervals carried beside the forecasts (a
        #: :class:`gatecast.serve.intervals.Bands`; None: none), and the last row's columns.
        self.bands: Any = None
        self.band: dict[str, float] = {}
        self.reset()
        self._quick: Any = self._quick_plan()  # see _quick_tick

    def _init_checks(self) -> None:
        #: The trading calendar that says which bar comes next (the model's; None: unknown).
        self.calendar: Calendar | None = self.spec.calendar
        #: Bars a row may skip (None: no limit).
        self.max_gap: int | None = MAX_GAP
        #: How far past the current UTC time a row may be dated (None: no limit).
        self.max_ahead: pd.Timedelta | None = MAX_AHEAD

    @classmethod
    def over(cls, spec: ModelSpec, engine: Engine, tensors: Mapping[str, Any]) -> Stream:
        """A stream of the model ``spec`` with ``tensors`` run by ``engine``."""
        return cls(spec, engine, weights_fingerprint(tensors))

    def reset(self) -> None:
        """Forget everything: zero state, empty buffer, no previous observation."""
        self.engine.reset()
        self.online.reset()
        self.ticks = 0  # observations accepted
        self.valid = 0  # of those, rows with every feature defined (fed to the network)
        self.last: OrderKey | None = None  # date or sequence number of the last row consumed
        #: The bars the last update's row skipped (within ``max_gap``); empty when none.
        self.missed: list[OrderKey] = []
        self._missed: list[OrderKey] = []  # of the row being taken, until it is committed
        rows = 0 if self._sequence else self.spec.window
        self._buffer = np.zeros((rows, self.spec.input_size))
        self._row_key: OrderKey | None = None  # the last row's own date (None: undated)
        if getattr(self, "bands", None) is not None:
            self.bands.reset()
            self.band = {}

    @property
    def ready(self) -> bool:
        """Whether the next ``update`` returns a forecast (not NaN) given a valid observation."""
        need = 0 if self._sequence else self.spec.window - 1
        full = len(self.online.history) >= self.online.size - 1
        return self.valid >= need and full and self.online.classical_ready()

    def update(self, observation: Any, at: Any = None) -> float:
        """Take the observation at t, return the forecast for t + horizon (NaN while warming up).

        ``at`` is the row's date or sequence number (read from a ``date``/``seq`` key of a
        mapping when not given). A bad observation (missing column, NaN, non-positive price
        under returns, a price 1000x off the previous one, a row not after the last one
        consumed) raises a :class:`gatecast.errors.DataError` and leaves the stream exactly as
        it was.

        With :attr:`bands` set, :attr:`band` holds the interval columns of the same bar after
        the update (see :class:`gatecast.serve.intervals.Bands`).
        """
        out = self._update(observation, at)
        if self.bands is not None:
            price = float(self.online.history[-1][0])
            self.band = self.bands.update(price, out, self._row_key)
        return out

    def _update(self, observation: Any, at: Any) -> float:
        if at is None and type(observation) is float and self._quick is not None:
            quick = self._quick_tick(observation)
            if quick is not None:
                self._row_key = None
                return quick
        key, obs, finite = self._take(observation, at)
        if not self._commit(key, finite):
            return math.nan
        raw = (
            self.engine.step(self.online.z) if self._sequence else self.engine.window(self._buffer)
        )
        return self._forecast(raw, obs)

    # The common tick in one short function: a price alone, no date, a sequence model of the
    # NumPy engine whose features come from the last two prices. It checks what _take checks and
    # gives up (None, nothing changed) on anything else, so that the general path then gives
    # the same answer or the same error.
    def _quick_plan(self) -> tuple[Any, ...] | None:
        from gatecast.inference.engines import NumpyEngine

        spec, online = self.spec, self.online
        features = ("return", "abs_return", "squared_return", "price")
        if not (
            self._sequence
            and not spec.hybrid
            and not spec.covariates
            and type(self.engine) is NumpyEngine
            and self.reader.fields == ("price",)
            and self.reader.positive
            and online.size == 2
            and set(spec.features) <= set(features)
        ):
            return None
        plan = tuple(
            (j, features.index(name), shift, scale)
            for j, (name, shift, scale) in enumerate(
                zip(spec.features, online.shift.tolist(), online.scale.tolist(), strict=True)
            )
        )
        return self.engine, self.engine.stepper, spec.units.log, spec.units.percent, plan

    def _quick_tick(self, price: float) -> float | None:
        engine, stepper, log, percent, plan = self._quick
        if self.valid <= 0 or not _MIN_NORMAL <= price <= _MAX_FLOAT:
            return None  # warming up, or not a positive normal number: the general path
        hist = self.online.history
        ratio = price / hist[-1][0]
        if not _LOW <= ratio <= TICK_RATIO:
            return None
        r = math.log(ratio) if log else ratio - 1.0  # as Units.ret computes it
        if percent:
            r = 100.0 * r
        state = engine._s
        x = state._x
        for j, kind, shift, scale in plan:
            v = r if kind == 0 else abs(r) if kind == 1 else r * r if kind == 2 else price
            z = (v - shift) / scale
            if not -math.inf < z < math.inf:
                return None
            x[j] = z
        hist.append((price, math.nan, math.nan, math.nan))
        self.ticks += 1
        self.valid += 1
        if stepper._kernel is not None:
            raw = stepper._kernel(stepper._wmem, state.mem)
            state.steps += 1
        else:
            raw = stepper.step(x, state)[0]
        if self._output == "value":
            return float(raw * self._scale + self._shift)
        return to_target_unit(self.spec, float(raw), price)

    # A tick in three parts, so that a StreamSet can check every instrument's row before it
    # changes any (``_take``, undone by ``online.undo``), then commit them all and run the
    # network once for the batch.
    def _take(self, observation: Any, at: Any) -> tuple[OrderKey | None, Obs, bool]:
        """Check the row and push its features; raises, leaving the stream as it was. Returns
        its order key, the observation read and whether every feature is defined."""
        if at is None and type(observation) is not float:
            if isinstance(observation, Mapping | pd.Series):
                found = row_key(observation)
                at = found[1] if found is not None else None
        # a row without a date cannot be placed: taken as it comes
        self._missed = []
        key = None if at is None else self._check_order(at)
        if self._fill is not None:  # the calendar's columns, from the row's date alone
            observation = self._fill(observation, at)
        obs = self.reader.read(observation)
        covariates = self.reader.read_covariates(
            observation, _shown(key) if key is not None else f"tick {self.ticks + 1}"
        )
        online = self.online
        if self.reader.need_price:
            price = obs[0]
            prev = online.history[-1][0] if online.history else math.nan
            tiny = 0 < abs(price) < sys.float_info.min  # subnormal: no precision left
            if tiny or (
                prev > 0 and price > 0 and not 1 / TICK_RATIO <= price / prev <= TICK_RATIO
            ):
                raise OutlierError(
                    f"price {price:g} is {price / prev:.3g} times the previous one ({prev:g}): "
                    f"a typo or a unit change? the stream is unchanged"
                    if not tiny
                    else f"price {price:g} is too small to be a price; the stream is unchanged"
                )
        finite = online.push(obs, covariates)
        if not finite and self.valid > 0:
            online.undo()
            raise MissingValueError(
                f"feature(s) {online.bad()} are NaN/inf at tick {self.ticks + 1} (after "
                f"{self.valid} valid rows); check the observation {observation!r}: the stream "
                f"is unchanged"
            )
        return key, obs, finite

    def _check_order(self, at: Any) -> OrderKey:
        """The order key of a row at ``at``; a ReplayError unless it comes after the last one."""
        key = order_key(at)
        last = self.last
        if last is not None and not self.allow_replay:
            if isinstance(key, int) != isinstance(last, int):
                raise ReplayError(
                    f"row {_shown(key)} is not ordered like the rows consumed so far (up to "
                    f"{_shown(last)}): one stream counts by date or by sequence number"
                )
            if key <= last:
                what = "repeats" if key == last else "comes before"
                raise ReplayError(
                    f"row {_shown(key)} {what} the last row consumed ({_shown(last)}): a replayed "
                    f"or out-of-order row; the stream is unchanged (pass --allow-replay / "
                    f"allow_replay=True to replay on purpose)"
                )
        self._check_ahead(key, last)
        return key

    def _check_ahead(self, key: OrderKey, last: OrderKey | None) -> None:
        """A FutureDateError for a row dated past the clock or skipping more than ``max_gap``
        bars after ``last``; else note the bars it skips (``_missed``)."""
        ahead = self.max_ahead
        if isinstance(key, pd.Timestamp) and ahead is not None:
            try:
                stamp = key.value  # ns since 1970; the clock's, with no Timestamp to make
            except OverflowError:  # past 2262: past any clock
                stamp = sys.maxsize
            if stamp > time.time_ns() + ahead.value:
                now = utc_now()
                raise FutureDateError(
                    f"row {_shown(key)} is dated more than {_duration(ahead)} after "
                    f"now ({now:%Y-%m-%d %H:%M} UTC): a mistyped date? the stream is unchanged "
                    f"(--max-ahead / max_ahead allows rows further ahead)"
                )
        gap = self.max_gap
        if last is None or gap is None or isinstance(key, int) != isinstance(last, int):
            return
        if key <= last:  # a deliberate replay
            return
        if isinstance(key, int):
            assert isinstance(last, int)
            beyond, what = key > last + gap + 1, "sequence numbers"
            missed: list[OrderKey] = list(range(last + 1, min(key, last + gap + 2)))
        else:
            cal = self.calendar
            if cal is None or not cal.dated:
                return
            missed, beyond = cal.bars_between(last, key, gap)
            what = f"bars of {cal.describe()}"
        if beyond:
            nxt = missed[0] if missed else last + 1 if isinstance(last, int) else None
            raise FutureDateError(
                f"row {_shown(key)} skips more than {gap} {what} after the last row consumed "
                f"({_shown(last)}"
                + (f"; the next is {_shown(nxt)}" if nxt is not None else "")
                + "): a mistyped date? the stream is unchanged (--max-gap / max_gap allows "
                "more missing bars)"
            )
        self._missed = missed

    def _commit(self, key: OrderKey | None, finite: bool) -> bool:
        """Count a row taken by ``_take``; whether the network runs on it (its features are
        defined and, in window mode, the window is full)."""
        self.ticks += 1
        self._row_key = key
        if key is not None:
            self.last = key
        self.missed = self._missed
        if not finite:  # warming up: e.g. the first row has no return yet
            return False
        self.valid += 1
        if self._sequence:
            return True
        buf = self._buffer
        buf[:-1] = buf[1:]  # the window is short; a shift keeps it in time order
        buf[-1] = self.online.z
        return self.valid >= self.spec.window

    def _forecast(self, raw: float, obs: Obs) -> float:
        """The head's output ``raw`` in the target's units."""
        if self._output == "value":
            return raw * self._scale + self._shift
        out = to_target_unit(self.spec, raw, obs[0])  # an anchored price moves from this one
        if self._residual:  # a hybrid's head scales the residual model's forecast
            out *= self.online.residual_value
        return out

    def update_many(self, observations: Iterable[Any]) -> np.ndarray:
        """``update`` each observation in turn; the forecasts as an array."""
        return np.array([self.update(o) for o in observations], dtype=float)

    # -- saving and restoring ---------------------------------------------------------------------
    def _state_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        h, c = self.engine.get_state()
        arrays = {
            "h": h,
            "c": c,
            "buffer": self._buffer.astype(np.float64),
            "history": self.online.state(),
        }
        if self.spec.hybrid:  # the classical recursions' states: what no history rebuilds
            arrays["classical"] = self.online.classical_state()
        meta = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "mode": self.spec.mode,
            "cell": self.spec.cell,
            "fingerprint": self.fingerprint,
            "ticks": self.ticks,
            "valid": self.valid,
            "last": _last_to_json(self.last),
        }
        if self.bands is not None:
            b_arrays, meta["bands"] = self.bands.state()
            arrays |= {f"bands.{k}": v for k, v in b_arrays.items()}
        return arrays, meta

    def _restore(
        self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], where: str
    ) -> None:
        version = meta.get("version")
        if meta.get("format") != STATE_FORMAT or version not in (1, 2, STATE_VERSION):
            raise ModelFileError(
                f"{where} is not a gatecast stream state (version {STATE_VERSION}); save one with "
                f"stream.state() or `gatecast stream --state FILE`"
            )
        if meta.get("fingerprint") != self.fingerprint:
            raise ModelFileError(
                f"{where} was saved from another model (weights differ); resume it with the model "
                f"that wrote it, or reset() and replay the history"
            )
        try:
            L, H = self.spec.layers, self.spec.hidden
            h, c = np.asarray(arrays["h"], float), np.asarray(arrays["c"], float)
            buf = np.asarray(arrays["buffer"], float)
            history = _history(arrays, version, self.online.state().shape)
            ticks, valid = _count(meta["ticks"]), _count(meta["valid"])
            last = _last_from_json(meta.get("last"))
            classical = np.asarray(arrays["classical"], float) if self.spec.hybrid else None
            if classical is not None:
                try:
                    self.online.check_classical_state(classical)
                except ValueError as exc:
                    raise ValueError(
                        f"its classical models' state does not fit this model: {exc}"
                    ) from None
        except (KeyError, TypeError, ValueError, DataError) as exc:
            raise ModelFileError(f"{where} is malformed ({type(exc).__name__}: {exc})") from exc
        ahead = self.max_ahead
        if isinstance(last, pd.Timestamp) and ahead is not None and not self.allow_replay:
            if last > utc_now() + ahead:
                raise ModelFileError(
                    f"{where} says its last row was dated {_shown(last)}, more than "
                    f"{_duration(ahead)} after now: a mistyped date was consumed (before gatecast "
                    f"checked dates); start a fresh state or restore an earlier copy, or pass "
                    f"--allow-replay / allow_replay=True to go on from it as it is"
                )
        if h.shape != (L, H) or c.shape != (L, H) or buf.shape != self._buffer.shape:
            raise ModelFileError(f"{where}: state arrays have the wrong shapes for this model")
        if history.shape != self.online.state().shape:
            raise ModelFileError(f"{where}: its observation history has the wrong shape")
        if not (np.isfinite(h).all() and np.isfinite(c).all() and np.isfinite(buf).all()):
            raise ModelFileError(
                f"{where} holds NaN/inf in its recurrent state or window: it was edited or "
                f"corrupted; start a fresh state (or restore the file)"
            )
        if np.abs(h).max(initial=0.0) > 1:  # every cell's h is a tanh (times a gate)
            raise ModelFileError(
                f"{where} holds a hidden state outside [-1, 1], which no cell produces: it was "
                f"edited or corrupted; start a fresh state (or restore the file)"
            )
        self._check_history(history, where)
        if valid > ticks:
            raise ModelFileError(f"{where}: valid={valid} rows out of ticks={ticks} is impossible")
        if (self.bands is None) != ("bands" not in meta):
            raise ModelFileError(
                f"{where} was saved {'with' if self.bands is None else 'without'} intervals and "
                f"this stream has {'none' if self.bands is None else 'them'}: resume it with the "
                f"--interval/--quantiles (interval=, quantiles=) that wrote it"
            )
        if self.bands is not None:
            own = {k[6:]: v for k, v in arrays.items() if k.startswith("bands.")}
            self.bands.restore(own, meta["bands"], where)  # checked before the rest changes
        self.engine.set_state(h, c)
        self._buffer = buf.copy()
        if classical is not None:
            self.online.set_classical_state(classical)
        self.online.set_state(history)
        self.ticks, self.valid, self.last = ticks, valid, last
        if self._sequence and self.valid == 0:
            self.engine.reset()

    def _check_history(self, history: np.ndarray, where: str) -> None:
        """Each kept observation must be one the stream could have accepted."""
        cols = [FIELDS.index(f) for f in self.reader.fields]
        for row in history:
            if np.isnan(row).all():
                continue  # before the first observation
            values = row[cols]
            price = row[0]
            if not np.isfinite(values).all() or (
                self.reader.need_price and self.reader.positive and price <= 0
            ):
                raise ModelFileError(
                    f"{where} holds an observation no stream accepts "
                    f"({dict(zip(FIELDS, row.tolist(), strict=True))}); it was edited or "
                    f"corrupted: start a fresh state (or restore the file)"
                )

    def state(self, format: str = "safetensors") -> bytes | str:
        """The stream's state: safetensors bytes (default) or a JSON string; no pickle either way.

        Restore it with :meth:`load_state` on a stream of the same model (checked by a weights
        fingerprint), in this process or another, with either engine.
        """
        arrays, meta = self._state_parts()
        return encode_state(arrays, meta, format)

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write the state to ``path`` atomically: JSON if it ends in ``.json``, else safetensors."""
        return write_state(path, self.state)

    def load_state(self, data: bytes | str | os.PathLike[str]) -> Stream:
        """Restore a state from :meth:`state` output (bytes or JSON text) or a file; returns self."""
        arrays, meta, where = decode_state(data)
        self._restore(arrays, meta, where)
        return self


def utc_now() -> pd.Timestamp:
    """The current time in UTC, without a time zone (as rows' dates are read)."""
    now: pd.Timestamp = pd.Timestamp.now("UTC").tz_localize(None)
    return now


def _duration(value: pd.Timedelta) -> str:
    return str(value).replace(" 00:00:00", "").replace("0 days ", "")


def _shown(key: OrderKey | None) -> str:
    if isinstance(key, pd.Timestamp):
        return key.date().isoformat() if key == key.normalize() else key.isoformat()
    return f"#{key}" if key is not None else "nothing"


def _last_to_json(key: OrderKey | None) -> dict[str, Any] | None:
    if key is None:
        return None
    if isinstance(key, int):
        return {"seq": key}
    return {"date": key.isoformat()}


def _last_from_json(doc: Any) -> OrderKey | None:
    """The ``last`` of a state's metadata (absent before version 3)."""
    if doc is None:
        return None
    if not isinstance(doc, dict) or len(doc) != 1 or not ({"seq", "date"} & set(doc)):
        raise ValueError(f"last={doc!r} is neither {{'date': ...}} nor {{'seq': ...}}")
    if "seq" in doc:
        if isinstance(doc["seq"], bool) or not isinstance(doc["seq"], int):
            raise ValueError(f"last sequence number {doc['seq']!r} is not a whole number")
        return order_key(doc["seq"])
    if not isinstance(doc["date"], str):
        raise ValueError(f"last date {doc['date']!r} is not a date")
    return order_key(doc["date"])


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{value!r} is not a count")
    if value < 0:
        raise ValueError(f"count {value} is negative")
    return int(value)


def _history(arrays: Mapping[str, np.ndarray], version: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The observation history of a state; a version-1 state kept only the previous price and
    volume, which is the whole history of a model whose features look one row back."""
    if version != 1:
        return np.asarray(arrays["history"], float)
    price, volume = (float(v) for v in np.asarray(arrays["previous"], float))
    history = np.full(shape, np.nan)
    if shape[0] <= 2 and not (math.isnan(price) and math.isnan(volume)):
        history[-1] = (price, math.nan, math.nan, volume)
    return history

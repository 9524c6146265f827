"""Raw observations in, a model's scaled features out, one tick at a time.

An observation is a price (a float) when the model's features need only the price, or a mapping
(dict, pandas row) of raw columns, names case-insensitive (``Adj Close`` = ``adj_close``). The
online features are the registry's (`gatecast.data.features`), so a stream computes exactly what
training computed.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Mapping
from math import isfinite
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import FIELDS, Obs, feature, lookback, needed_fields
from gatecast.data.sources import DATE_COLUMNS, PRICE_PREFERENCE, normalise_name
from gatecast.errors import DataError, MissingValueError, NonPositivePriceError, UnknownColumnError
from gatecast.inference.classical import Recursion
from gatecast.inference.spec import ModelSpec

#: Columns that number the rows of a stream without dates (the order key, like a date).
SEQUENCE_COLUMNS = ("seq", "sequence")
#: Columns that are never the price when a row has no preferred price column.
NOT_PRICES = (*DATE_COLUMNS, *SEQUENCE_COLUMNS, "symbol", "open", "high", "low", "volume")
#: A tick this many times above (or below) the previous price is refused as absurd.
TICK_RATIO = 1e3
#: An ISO date or timestamp; a UTC offset is dropped, so the local date and time are kept.
_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)\s*"
    r"(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?"
)

#: Where a row is in its stream: a date (Timestamp) or a sequence number (int).
OrderKey = pd.Timestamp | int


def order_key(value: Any) -> OrderKey:
    """A row's position from its date (ISO text, a datetime) or sequence number (an int); a
    :class:`DataError` naming the value otherwise."""
    if isinstance(value, bool):
        raise DataError(f"{value!r} is neither a date nor a sequence number")
    if isinstance(value, int | np.integer):
        if value < 0:
            raise DataError(f"sequence number {value} is negative")
        return int(value)
    if isinstance(value, pd.Timestamp):
        if value.year > 9999:  # no ISO date, so no state could save it
            raise DataError(f"date {value} is past 9999-12-31")
        return value.tz_localize(None) if value.tz is not None else value
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return order_key(pd.Timestamp(value))
    text = str(value).strip()
    m = _ISO.fullmatch(text)
    if m is not None:
        try:
            stamp: pd.Timestamp = pd.Timestamp(m.group(1))
            return stamp
        except ValueError:
            pass
    raise DataError(f"date {text!r} is not a date; use ISO dates such as 2020-01-02")


def row_key(row: Mapping[Any, Any] | pd.Series) -> tuple[str, Any] | None:
    """The date or sequence column of a row (names normalised) and its value, if it has one."""
    for k, v in row.items():
        name = normalise_name(k)
        if name in DATE_COLUMNS or name in SEQUENCE_COLUMNS:
            return name, v
    return None


_NAN = math.nan


class ObservationReader:
    """Turns one observation into an :data:`Obs` tuple (price, high, low, volume), or raises a
    :class:`DataError` naming what is wrong."""

    def __init__(self, spec: ModelSpec) -> None:
        self.column = spec.column
        self.features = spec.features
        fields = needed_fields(spec.features)
        if spec.output == "anchored_price" and "price" not in fields:
            fields = ("price", *fields)  # the forecast moves from the current price
        # a hybrid's classical models read the price (returns) or the range too
        need = set(fields) | {f for r in _recursions(spec) for f in r.needs}
        self.fields = tuple(f for f in FIELDS if f in need)
        self.need_price = "price" in self.fields
        # returns of the price are taken when any feature besides the level reads it
        takes_returns = any(
            "price" in feature(f).needs and feature(f).lookback > 0 for f in spec.features
        ) or any("price" in r.needs for r in _recursions(spec))
        # a return of a zero or negative price is meaningless, log or simple
        self.positive = takes_returns
        #: The covariate columns a tick carries beside the prices (the values known at its
        #: close, as :func:`gatecast.data.covariates.known_at_close` joins them), by name.
        self.covariates = spec.covariates
        self._covariate_keys = tuple(normalise_name(c) for c in spec.covariates)

    def read(self, obs: Any) -> Obs:
        if type(obs) is float and self.fields == ("price",):  # the common tick, kept short
            if not math.isfinite(obs) or (self.positive and obs <= 0):
                return self._checked((obs, _NAN, _NAN, _NAN))
            return (obs, _NAN, _NAN, _NAN)
        if isinstance(obs, Mapping | pd.Series):
            row = {normalise_name(k): v for k, v in obs.items()}
            values = {
                name: _number(row, self._price_key(row) if name == "price" else name, name)
                for name in self.fields
            }
            out: Obs = (
                values.get("price", _NAN),
                values.get("high", _NAN),
                values.get("low", _NAN),
                values.get("volume", _NAN),
            )
        else:
            if self.fields != ("price",):
                raise DataError(
                    f"this model's features {list(self.features)} need more than a price "
                    f"({', '.join(self.fields)}); pass a mapping of columns (e.g. {{'close': ..., 'high': ..., 'low': ..., "
                    f"'volume': ...}})"
                )
            try:
                price = float(obs)
            except (TypeError, ValueError):
                raise DataError(
                    f"observation {obs!r} is not a number; pass a price or a mapping of columns"
                ) from None
            out = (price, _NAN, _NAN, _NAN)
        return self._checked(out)

    def read_covariates(self, obs: Any, when: str) -> tuple[float, ...]:
        """The covariate values of the observation ``obs`` (a mapping with a column per
        covariate), in the model's order; a :class:`DataError` naming the column and ``when``
        (the row's date) for one missing, not a number or NaN/inf."""
        if not self.covariates:
            return ()
        if not isinstance(obs, Mapping | pd.Series):
            raise UnknownColumnError(
                f"the observation {obs!r} ({when}) is a bare price, but the model reads the "
                f"covariates {list(self.covariates)}: pass a mapping with the price and a "
                f"column per covariate, each its value known at the row's close"
            )
        row = {normalise_name(k): v for k, v in obs.items()}
        out = []
        for name, key in zip(self.covariates, self._covariate_keys, strict=True):
            if key not in row:
                raise UnknownColumnError(
                    f"covariate column {name!r} is missing from the row of {when}; the model "
                    f"reads {list(self.covariates)}: give each beside the prices, its value "
                    f"known at the row's close"
                )
            try:
                value = float(row[key])
            except (TypeError, ValueError):
                raise DataError(
                    f"covariate column {name!r} holds {row[key]!r} on {when}, not a number"
                ) from None
            if not math.isfinite(value):
                raise MissingValueError(
                    f"covariate column {name!r} is {value} on {when}; give its last value known "
                    f"at the row's close"
                )
            out.append(value)
        return tuple(out)

    def _checked(self, out: Obs) -> Obs:
        if self.need_price:
            price = out[0]
            if not math.isfinite(price):
                raise MissingValueError(f"the price is {price}; pass a finite number")
            if self.positive and price <= 0:
                raise NonPositivePriceError(
                    f"price {price} is not positive; returns need positive prices"
                )
        return out

    def _price_key(self, row: Mapping[str, Any]) -> str:
        col = self.column
        if col is not None and col in row:
            return col
        for name in PRICE_PREFERENCE:
            if name in row:
                return name
        others = [k for k in row if k not in NOT_PRICES]
        if len(others) == 1:
            return others[0]
        raise UnknownColumnError(
            f"no price column among {list(row)}; this model reads {col!r} (or one of "
            f"{', '.join(PRICE_PREFERENCE)})"
        )


def _number(row: Mapping[str, Any], key: str, what: str) -> float:
    if key not in row:
        raise UnknownColumnError(
            f"column {key!r} ({what}) is missing from the observation {dict(row)}"
        )
    try:
        return float(row[key])
    except (TypeError, ValueError):
        raise DataError(f"column {key!r} holds {row[key]!r}, not a number") from None


def _recursions(spec: ModelSpec) -> list[Recursion]:
    """Every classical recursion a hybrid runs: its inputs, then its residual base if that is
    not one of them."""
    out = list(spec.classical)
    if spec.residual is not None and spec.residual.name not in [r.name for r in out]:
        out.append(spec.residual)
    return out


class OnlineFeatures:
    """The model's features for the newest observation, from the last ``lookback + 1`` ones,
    scaled by the model's training scaler into a reused array; a hybrid's classical recursions
    step on every observation too (their states are part of the stream's)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.names = spec.input_names
        self.units = spec.units
        self.fns = [feature(f).online for f in spec.features]
        self.size = lookback(spec.features) + 1
        self.history: deque[Obs] = deque(maxlen=self.size)
        self.shift = np.asarray(spec.feature_scaler.shift_, dtype=np.float64)
        self.scale = np.asarray(spec.feature_scaler.scale_, dtype=np.float64)
        self.z = np.empty(len(self.names))
        n = len(spec.features)
        self._plan = [
            (j, fn, float(a), float(b))
            for j, (fn, a, b) in enumerate(
                zip(self.fns, self.shift[:n], self.scale[:n], strict=True)
            )
        ]
        # (input column, shift, scale) of each covariate: read as it is, after the features
        m = len(spec.covariates)
        self._covariate_plan = [
            (n + k, float(self.shift[n + k]), float(self.scale[n + k])) for k in range(m)
        ]
        self.recursions = _recursions(spec)
        # (index in recursions, input column) of each classical input, after the covariates
        self._inputs = [(i, n + m + i) for i in range(len(spec.classical))]
        self._residual = (
            [r.name for r in self.recursions].index(spec.residual.name)
            if spec.residual is not None
            else None
        )
        self.reset()

    def reset(self) -> None:
        self.history.clear()
        self.rec_states = [r.start() for r in self.recursions]
        self.rec_values = [math.nan] * len(self.recursions)
        self._rec_before: tuple[list[np.ndarray], list[float]] | None = None

    @property
    def residual_value(self) -> float:
        """The residual model's forecast made at the last observation (NaN without one)."""
        return self.rec_values[self._residual] if self._residual is not None else math.nan

    def push(self, obs: Obs, covariates: tuple[float, ...] = ()) -> bool:
        """Add ``obs`` (with the values of the model's ``covariates``, which keep no history)
        and compute the scaled features into ``z``; whether all are finite."""
        hist, z, u = self.history, self.z, self.units
        self._dropped = hist[0] if len(hist) == self.size else None
        hist.append(obs)
        ok = True
        # scalar arithmetic per feature: cheaper than NumPy calls on arrays this small
        for j, fn, shift, scale in self._plan:
            v = (fn(hist, u) - shift) / scale
            z[j] = v
            if not isfinite(v):
                ok = False
        for (j, shift, scale), value in zip(self._covariate_plan, covariates, strict=True):
            v = (value - shift) / scale
            z[j] = v
            if not isfinite(v):
                ok = False
        if self.recursions:
            self._rec_before = (self.rec_states, self.rec_values)
            stepped = [
                r.step(s, obs) for r, s in zip(self.recursions, self.rec_states, strict=True)
            ]
            self.rec_states = [s for s, _ in stepped]
            self.rec_values = [v for _, v in stepped]
            for i, j in self._inputs:
                value = self.rec_values[i]
                v = (math.log(value) - self.shift[j]) / self.scale[j] if value > 0 else math.nan
                z[j] = v
                if not isfinite(v):
                    ok = False
            if self._residual is not None and not self.residual_value > 0:
                ok = False
        return ok

    def undo(self) -> None:
        """Take back the last :meth:`push` (the history is as before it)."""
        self.history.pop()
        if self._dropped is not None:
            self.history.appendleft(self._dropped)
        if self._rec_before is not None:
            self.rec_states, self.rec_values = self._rec_before
            self._rec_before = None

    def bad(self) -> list[str]:
        """Names of the features that are NaN/inf after the last push."""
        return [n for n, v in zip(self.names, self.z, strict=True) if not math.isfinite(v)]

    def classical_state(self) -> np.ndarray:
        """The recursions' states and last forecasts, one flat array (empty without any)."""
        parts = [np.append(s, v) for s, v in zip(self.rec_states, self.rec_values, strict=True)]
        return np.concatenate(parts) if parts else np.zeros(0)

    @property
    def classical_size(self) -> int:
        """The length of :meth:`classical_state`."""
        return sum(len(r.start()) + 1 for r in self.recursions)

    def _split(self, arr: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        arr = np.asarray(arr, dtype=np.float64)
        if arr.shape != (self.classical_size,):
            raise ValueError(
                f"classical state of shape {arr.shape}; this model keeps {self.classical_size}"
            )
        states, values, at = [], [], 0
        for n in (len(r.start()) + 1 for r in self.recursions):
            states.append(arr[at : at + n - 1].copy())
            values.append(float(arr[at + n - 1]))
            at += n
        return states, values

    def check_classical_state(self, arr: np.ndarray) -> None:
        """A ValueError unless ``arr`` is a state :meth:`classical_state` could have written."""
        states, values = self._split(arr)
        for r, state, value in zip(self.recursions, states, values, strict=True):
            if not r.valid(state) or not (math.isnan(value) or 0 < value < math.inf):
                raise ValueError(
                    f"the state of {r.name!r} ({state.tolist()}, forecast {value}) is not one it "
                    f"can reach"
                )

    def set_classical_state(self, arr: np.ndarray) -> None:
        """Restore what :meth:`classical_state` wrote (a ValueError if it does not fit)."""
        self.rec_states, self.rec_values = self._split(arr)
        self._rec_before = None

    def classical_ready(self) -> bool:
        """Whether the next observation gives every classical forecast (warm-up is over)."""
        return all(r.ready(s) for r, s in zip(self.recursions, self.rec_states, strict=True))

    def state(self) -> np.ndarray:
        """The history as a (lookback + 1, 4) array, oldest first, NaN rows before it starts."""
        arr = np.full((self.size, len(FIELDS)), np.nan)
        if self.history:
            arr[self.size - len(self.history) :] = np.asarray(self.history, dtype=np.float64)
        return arr

    def set_state(self, arr: np.ndarray) -> None:
        """Restore a history written by :meth:`state` (all-NaN rows are the empty start)."""
        self.history.clear()
        for row in np.asarray(arr, dtype=np.float64):
            if not np.isnan(row).all():
                self.history.append(tuple(float(v) for v in row))  # type: ignore[arg-type]

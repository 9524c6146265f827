"""Live forecasting: feed one observation per tick, get the next forecast; torch or NumPy-only.

A :class:`Stream` turns raw observations (a price, or a row of the columns the model's features
need) into the model's scaled features, advances the recurrent state and returns the forecast
``horizon`` steps ahead in target units, exactly what ``RecurrentForecaster.predict`` gives for the
same history. Its state saves to safetensors bytes or JSON (never pickle) and resumes anywhere.

This module imports no torch: :func:`load_numpy` serves a model folder with ``gatecast.nn`` alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.artifacts import atomic_write_bytes
from gatecast.data.features import TargetSpec
from gatecast.data.scalers import scaler_from_dict
from gatecast.data.sources import PRICE_PREFERENCE, normalise_name
from gatecast.errors import (
    ConfigError,
    DataError,
    MissingValueError,
    ModelFileError,
    NonPositivePriceError,
    UnknownColumnError,
)

if TYPE_CHECKING:
    from gatecast.models.recurrent import RecurrentForecaster
    from gatecast.nn.inference import NumpyModel

STATE_FORMAT = "gatecast-stream"
STATE_VERSION = 1
ENGINES = ("torch", "numpy")


def weights_fingerprint(tensors: Mapping[str, Any]) -> str:
    """SHA-256 of the weights as float32 with their names: ties a saved stream state to its model."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(np.asarray(tensors[name], dtype=np.float32)).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class StreamSpec:
    """What a stream needs from a model's manifest: inputs, scalers, target, mode and sizes."""

    mode: str
    cell: str
    window: int
    hidden: int
    layers: int
    features: tuple[str, ...]
    column: str | None
    target: TargetSpec
    feature_shift: np.ndarray
    feature_scale: np.ndarray
    target_shift: float
    target_scale: float
    fingerprint: str

    @classmethod
    def from_manifest(cls, m: Mapping[str, Any], tensors: Mapping[str, Any]) -> StreamSpec:
        fs = scaler_from_dict(m["scalers"]["features"])
        ts = scaler_from_dict(m["scalers"]["target"])
        assert fs.shift_ is not None and fs.scale_ is not None
        assert ts.shift_ is not None and ts.scale_ is not None
        return cls(
            mode=str(m.get("mode", "window")),
            cell=str(m["cell"]),
            window=int(m["window"]),
            hidden=int(m["hidden"]),
            layers=int(m["layers"]),
            features=tuple(m["features"]),
            column=m.get("column"),
            target=TargetSpec.from_dict(m["target"]),
            feature_shift=np.asarray(fs.shift_, dtype=np.float64),
            feature_scale=np.asarray(fs.scale_, dtype=np.float64),
            target_shift=float(ts.shift_[0]),
            target_scale=float(ts.scale_[0]),
            fingerprint=weights_fingerprint(tensors),
        )

    @property
    def input_size(self) -> int:
        return len(self.features)


# -- engines: one recurrent step, or one window, on scaled inputs -> the raw head output ----------


class NumpyEngine:
    """Steps a model's weights with ``gatecast.nn.Stepper`` (float64 by default; no torch)."""

    def __init__(
        self, spec: StreamSpec, tensors: Mapping[str, Any], dtype: Any = np.float64
    ) -> None:
        from gatecast.nn import Linear, Stepper, make_stack

        stack = make_stack(spec.cell, spec.input_size, spec.hidden, spec.layers, dtype=dtype)
        stack.load_params({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")})
        head = Linear(spec.hidden, 1, dtype=dtype)
        head.load_params({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        self.stepper = Stepper(stack, head)
        self.layers, self.hidden = spec.layers, spec.hidden
        self.has_c = spec.cell == "lstm"
        self._s = self.stepper.initial_state()

    def reset(self) -> None:
        self._s = self.stepper.initial_state()

    def step(self, z: Any) -> float:
        y, _ = self.stepper.step(z, self._s)
        return float(y)

    def window(self, Z: np.ndarray) -> float:
        s = self.stepper.initial_state()
        y = math.nan
        for z in Z:
            y, s = self.stepper.step(z, s)
        return float(y)

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        s = self._s
        c = s.c if self.has_c else np.zeros((self.layers, self.hidden))
        return np.array(s.h, dtype=np.float64), np.array(c, dtype=np.float64)

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        self._s = self.stepper.initial_state(h, c if self.has_c else None)


class TorchEngine:
    """Steps a torch ``RecurrentNet`` in its own dtype and device (``torch.no_grad``).

    A tick runs one ``LSTMCell``/``GRUCell``/``RNNCell`` per layer, sharing the stack's parameters
    (a full ``nn.LSTM`` call on one step costs about 3x more in fixed overhead).
    """

    def __init__(self, net: Any) -> None:
        import torch
        from torch import nn

        self.torch = torch
        self.net = net.eval()
        rnn = net.rnn
        p = next(net.parameters())
        self.dtype, self.device = p.dtype, p.device
        self.layers, self.hidden = rnn.num_layers, rnn.hidden_size
        self.has_c = isinstance(rnn, nn.LSTM)
        self.cells: list[Any] = []
        for k in range(self.layers):
            n_in = rnn.input_size if k == 0 else rnn.hidden_size
            if isinstance(rnn, nn.LSTM):
                cell: Any = nn.LSTMCell(n_in, self.hidden)
            elif isinstance(rnn, nn.GRU):
                cell = nn.GRUCell(n_in, self.hidden)
            else:
                cell = nn.RNNCell(n_in, self.hidden, nonlinearity=rnn.nonlinearity)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(cell, name, getattr(rnn, f"{name}_l{k}"))  # shared, not copied
            self.cells.append(cell.eval())
        self.reset()

    def reset(self) -> None:
        self.set_state(np.zeros((self.layers, self.hidden)), np.zeros((self.layers, self.hidden)))

    def step(self, z: Any) -> float:
        torch = self.torch
        with torch.no_grad():
            inp = torch.as_tensor(z, dtype=self.dtype, device=self.device).view(1, -1)
            s = self._s
            for k, cell in enumerate(self.cells):
                s[k] = cell(inp, s[k])
                inp = s[k][0] if self.has_c else s[k]
            return float(self.net.head(inp)[0, 0])

    def window(self, Z: np.ndarray) -> float:
        torch = self.torch
        with torch.no_grad():
            x = torch.as_tensor(
                np.asarray(Z, dtype=np.float64), dtype=self.dtype, device=self.device
            )
            return float(self.net(x[None])[0, 0])

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        def n(t: Any) -> np.ndarray:
            return t[0].detach().cpu().numpy().astype(np.float64)

        h = np.stack([n(s[0] if self.has_c else s) for s in self._s])
        c = np.stack([n(s[1]) for s in self._s]) if self.has_c else np.zeros_like(h)
        return h, c

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        torch = self.torch

        def t(a: np.ndarray) -> Any:
            return torch.as_tensor(a, dtype=self.dtype, device=self.device)[None, :].clone()

        self._s = [(t(h[k]), t(c[k])) if self.has_c else t(h[k]) for k in range(self.layers)]


Engine = NumpyEngine | TorchEngine


# -- the stream -------------------------------------------------------------------------------------


class Stream:
    """One instrument's live forecaster: ``update(observation)`` -> forecast ``horizon`` steps ahead.

    Sequence-mode models carry the recurrent state from tick to tick: O(1) work per tick (one step
    of each layer and the head). Window-mode models keep a ring buffer of the last ``window``
    scaled inputs and recompute the whole window every tick: O(window) work per tick, the same
    forecasts as ``predict`` (train in ``mode="sequence"`` for O(1) serving).

    Observations are a price (a float) when the model's features need only the price, or a mapping
    (dict, pandas row) of raw columns, names case-insensitive (``Adj Close`` = ``adj_close``): the
    model's price column (else ``adj_close``, ``close``, ``price``, ``value``, else the only one), and
    ``high``/``low`` or ``volume`` when its features use them. Until the features are defined (the
    first price has no return) and, in window mode, the window is full, ``update`` returns NaN.

    Build one with ``RecurrentForecaster.stream()``, ``load_numpy(folder).stream()`` or
    :meth:`Stream.from_folder`.

    Examples
    --------
    >>> stream = load_numpy("models/spx").stream()  # doctest: +SKIP
    >>> stream.update(2711.3)  # doctest: +SKIP
    nan
    >>> stream.update({"close": 2718.9, "volume": 3.1e9})  # doctest: +SKIP
    0.00041
    >>> blob = stream.state()  # safetensors bytes; stream.state("json") gives JSON  # doctest: +SKIP
    """

    def __init__(self, spec: StreamSpec, engine: Engine) -> None:
        self.spec = spec
        self.engine = engine
        f = spec.features
        self._need_price = any(n in ("return", "abs_return", "squared_return", "price") for n in f)
        self._only_return = f == ("return",)
        self._log = spec.target.log
        self._shift0, self._scale0 = float(spec.feature_shift[0]), float(spec.feature_scale[0])
        self._z = np.empty(spec.input_size)
        self.reset()

    # construction
    @classmethod
    def from_forecaster(cls, model: RecurrentForecaster, engine: str = "torch") -> Stream:
        """A stream over a fitted torch forecaster (``engine="numpy"`` copies its weights)."""
        if engine not in ENGINES:
            raise ConfigError(f"engine {engine!r} is unknown; choose one of {', '.join(ENGINES)}")
        assert model.net_ is not None
        tensors = {k: v.detach().cpu().numpy() for k, v in model.net_.state_dict().items()}
        spec = StreamSpec.from_manifest(model.manifest(), tensors)
        if engine == "torch":
            return cls(spec, TorchEngine(model.net_))
        return cls(spec, NumpyEngine(spec, tensors))

    @classmethod
    def from_numpy_model(cls, model: Any) -> Stream:
        """A stream over ``gatecast.nn.load(folder)`` (NumPy engine, in the model's dtype)."""
        tensors = dict(model.net.params)
        spec = StreamSpec.from_manifest(model.manifest, tensors)
        return cls(spec, NumpyEngine(spec, tensors, dtype=model.net.dtype))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], engine: str = "numpy") -> Stream:
        """A stream over a model folder; ``engine="numpy"`` never imports torch."""
        if engine == "numpy":
            return load_numpy(folder).stream()
        if engine == "torch":
            from gatecast.models.recurrent import RecurrentForecaster

            return RecurrentForecaster.load(Path(folder), device="cpu").stream()
        raise ConfigError(f"engine {engine!r} is unknown; choose one of {', '.join(ENGINES)}")

    # ticking
    def reset(self) -> None:
        """Forget everything: zero state, empty buffer, no previous price."""
        self.engine.reset()
        self._prev_price = math.nan
        self._prev_volume = math.nan
        self.ticks = 0  # observations accepted
        self.valid = 0  # of those, rows with every feature defined (fed to the network)
        self._buffer = np.zeros(
            (self.spec.window if self.spec.mode == "window" else 0, self.spec.input_size)
        )

    @property
    def ready(self) -> bool:
        """Whether the next ``update`` returns a forecast (not NaN) given a valid observation."""
        need = self.spec.window - 1 if self.spec.mode == "window" else 0
        return self.valid >= need and (self.ticks > 0 or not self._needs_previous())

    def _needs_previous(self) -> bool:
        return any(
            n in ("return", "abs_return", "squared_return", "log_volume_change")
            for n in self.spec.features
        )

    def update(self, observation: Any) -> float:
        """Take the observation at t, return the forecast for t + horizon (NaN while warming up).

        A bad observation (missing column, NaN, non-positive price under log returns) raises a
        :class:`gatecast.errors.DataError` and leaves the stream exactly as it was.
        """
        price, high, low, volume = self._read(observation)
        z = self._z
        if self._only_return:  # the common case, without pandas or per-feature dispatch
            prev = self._prev_price
            r = (
                (math.log(price / prev) if self._log else price / prev - 1.0)
                if prev == prev
                else math.nan
            )
            z[0] = (r - self._shift0) / self._scale0
            finite = math.isfinite(r)
        else:
            self._features(price, high, low, volume, z)
            finite = bool(np.isfinite(z).all())
        if not finite and self.valid > 0:
            bad = [n for n, v in zip(self.spec.features, z, strict=True) if not math.isfinite(v)]
            raise MissingValueError(
                f"feature(s) {bad} are NaN/inf at tick {self.ticks + 1} (after {self.valid} valid "
                f"rows); check the observation {observation!r}: the stream is unchanged"
            )
        self._prev_price, self._prev_volume = price, volume
        self.ticks += 1
        if not finite:  # warming up: the first row has no return yet
            return math.nan
        self.valid += 1
        if self.spec.mode == "sequence":
            raw = self.engine.step(z)
        else:
            buf = self._buffer
            buf[:-1] = buf[1:]  # the window is short; a shift keeps it in time order
            buf[-1] = z
            if self.valid < self.spec.window:
                return math.nan
            raw = self.engine.window(buf)
        if self.spec.target.kind == "direction":
            return 1.0 / (1.0 + math.exp(-raw))
        return raw * self.spec.target_scale + self.spec.target_shift

    def update_many(self, observations: Iterable[Any]) -> np.ndarray:
        """``update`` each observation in turn; the forecasts as an array."""
        return np.array([self.update(o) for o in observations], dtype=float)

    def _read(self, obs: Any) -> tuple[float, float, float, float]:
        nan = math.nan
        if isinstance(obs, Mapping) or isinstance(obs, pd.Series):
            row = {normalise_name(k): v for k, v in obs.items()}
            price = _number(row, self._price_key(row), "price") if self._need_price else nan
            high = low = volume = nan
            if "log_range" in self.spec.features:
                high, low = _number(row, "high", "high"), _number(row, "low", "low")
            if "log_volume_change" in self.spec.features:
                volume = _number(row, "volume", "volume")
        else:
            if (
                not self._need_price
                or "log_range" in self.spec.features
                or ("log_volume_change" in self.spec.features)
            ):
                raise DataError(
                    f"this model's features {list(self.spec.features)} need more than a price; "
                    f"pass a mapping of columns (e.g. {{'close': ..., 'high': ..., 'low': ..., "
                    f"'volume': ...}})"
                )
            try:
                price = float(obs)
            except (TypeError, ValueError):
                raise DataError(
                    f"observation {obs!r} is not a number; pass a price or a mapping of columns"
                ) from None
            high = low = volume = nan
        if self._need_price:
            if not math.isfinite(price):
                raise MissingValueError(f"the price is {price}; pass a finite number")
            if (
                self._log
                and price <= 0
                and any(n in ("return", "abs_return", "squared_return") for n in self.spec.features)
            ):
                raise NonPositivePriceError(
                    f"price {price} is not positive; log returns need positive prices"
                )
        return price, high, low, volume

    def _price_key(self, row: Mapping[str, Any]) -> str:
        col = self.spec.column
        if col is not None and col in row:
            return col
        for name in PRICE_PREFERENCE:
            if name in row:
                return name
        not_prices = (
            "date",
            "time",
            "timestamp",
            "datetime",
            "symbol",
            "open",
            "high",
            "low",
            "volume",
        )
        others = [k for k in row if k not in not_prices]
        if len(others) == 1:
            return others[0]
        raise UnknownColumnError(
            f"no price column among {list(row)}; this model reads {col!r} (or one of "
            f"{', '.join(PRICE_PREFERENCE)})"
        )

    def _features(
        self, price: float, high: float, low: float, volume: float, z: np.ndarray
    ) -> None:
        prev, prev_v = self._prev_price, self._prev_volume
        r = math.nan
        if prev == prev:
            r = math.log(price / prev) if self._log else price / prev - 1.0
        for j, name in enumerate(self.spec.features):
            if name == "return":
                v = r
            elif name == "price":
                v = price
            elif name == "abs_return":
                v = abs(r)
            elif name == "squared_return":
                v = r * r
            elif name == "log_range":
                v = math.log(high / low) if high > 0 and low > 0 else math.nan
            else:  # log_volume_change
                ok = volume > 0 and prev_v > 0
                v = math.log(volume) - math.log(prev_v) if ok else math.nan
            z[j] = v
        z -= self.spec.feature_shift
        z /= self.spec.feature_scale

    # saving and restoring
    def _state_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        h, c = self.engine.get_state()
        arrays = {
            "h": h,
            "c": c,
            "buffer": self._buffer.astype(np.float64),
            "previous": np.array([self._prev_price, self._prev_volume], dtype=np.float64),
        }
        meta = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "mode": self.spec.mode,
            "cell": self.spec.cell,
            "fingerprint": self.spec.fingerprint,
            "ticks": self.ticks,
            "valid": self.valid,
        }
        return arrays, meta

    def _restore(
        self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], where: str
    ) -> None:
        if meta.get("format") != STATE_FORMAT or int(meta.get("version", -1)) != STATE_VERSION:
            raise ModelFileError(
                f"{where} is not a gatecast stream state (version {STATE_VERSION}); save one with "
                f"stream.state() or `gatecast stream --state FILE`"
            )
        if meta.get("fingerprint") != self.spec.fingerprint:
            raise ModelFileError(
                f"{where} was saved from another model (weights differ); resume it with the model "
                f"that wrote it, or reset() and replay the history"
            )
        L, H = self.spec.layers, self.spec.hidden
        h, c = np.asarray(arrays["h"], float), np.asarray(arrays["c"], float)
        buf = np.asarray(arrays["buffer"], float)
        if h.shape != (L, H) or c.shape != (L, H) or buf.shape != self._buffer.shape:
            raise ModelFileError(f"{where}: state arrays have the wrong shapes for this model")
        self.engine.set_state(h, c)
        self._buffer = buf.copy()
        prev = np.asarray(arrays["previous"], float)
        self._prev_price, self._prev_volume = float(prev[0]), float(prev[1])
        self.ticks, self.valid = int(meta["ticks"]), int(meta["valid"])
        if self.spec.mode == "sequence" and self.valid == 0:
            self.engine.reset()

    def state(self, format: str = "safetensors") -> bytes | str:
        """The stream's state: safetensors bytes (default) or a JSON string; no pickle either way.

        Restore it with :meth:`load_state` on a stream of the same model (checked by a weights
        fingerprint), in this process or another, with either engine.
        """
        arrays, meta = self._state_parts()
        return _encode(arrays, meta, format)

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write the state to ``path`` atomically: JSON if it ends in ``.json``, else safetensors."""
        path = Path(path)
        fmt = "json" if path.suffix.lower() == ".json" else "safetensors"
        payload = self.state(fmt)
        atomic_write_bytes(path, payload.encode() if isinstance(payload, str) else payload)
        return path

    def load_state(self, data: bytes | str | os.PathLike[str]) -> Stream:
        """Restore a state from :meth:`state` output (bytes or JSON text) or a file; returns self."""
        arrays, meta, where = _decode(data)
        self._restore(arrays, meta, where)
        return self


def _number(row: Mapping[str, Any], key: str, what: str) -> float:
    if key not in row:
        raise UnknownColumnError(
            f"column {key!r} ({what}) is missing from the observation {dict(row)}"
        )
    try:
        return float(row[key])
    except (TypeError, ValueError):
        raise DataError(f"column {key!r} holds {row[key]!r}, not a number") from None


def _encode(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], fmt: str) -> bytes | str:
    if fmt == "safetensors":
        from safetensors.numpy import save

        return save(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()},
            metadata={"gatecast": json.dumps(meta)},
        )
    if fmt == "json":
        doc = dict(meta)
        doc["arrays"] = {
            k: {"shape": list(v.shape), "data": [_json_float(x) for x in v.ravel()]}
            for k, v in arrays.items()
        }
        return json.dumps(doc)
    raise ConfigError(f"state format {fmt!r} is unknown; use 'safetensors' or 'json'")


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None  # NaN (no previous price yet) -> null


def _decode(
    data: bytes | str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    where = "the state"
    if isinstance(data, (str, os.PathLike)) and not (
        isinstance(data, str) and data.lstrip().startswith("{")
    ):
        path = Path(data)
        if not path.is_file():
            raise ModelFileError(f"stream state file {path} does not exist")
        where, raw = str(path), path.read_bytes()
        if path.suffix.lower() == ".json":
            try:
                data = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ModelFileError(
                    f"{where} is not UTF-8 text, so not a JSON stream state"
                ) from exc
        else:
            data = raw
    if isinstance(data, str):
        try:
            doc = json.loads(data)
            arrays = {
                k: np.array(
                    [math.nan if x is None else x for x in v["data"]], dtype=np.float64
                ).reshape(v["shape"])
                for k, v in doc.pop("arrays").items()
            }
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{where} is not a valid JSON stream state ({exc})") from exc
        return arrays, doc, where
    from safetensors.numpy import load

    try:
        blob = bytes(data)
        arrays = dict(load(blob))
        # the metadata sits in the JSON header after its 8-byte little-endian length
        n = int.from_bytes(blob[:8], "little")
        meta = json.loads(json.loads(blob[8 : 8 + n]).get("__metadata__", {}).get("gatecast", "{}"))
    except Exception as exc:
        raise ModelFileError(f"{where} is not a readable safetensors stream state ({exc})") from exc
    return arrays, meta, where


# -- many instruments -------------------------------------------------------------------------------


class StreamSet:
    """Streams keyed by instrument (``"SPX"``, ``"NDX"``, ...), created on first use.

    Parameters
    ----------
    make_stream
        A function returning a fresh :class:`Stream`, e.g. ``model.stream`` or
        ``load_numpy(folder).stream``: every instrument runs the same model with its own state.

    Examples
    --------
    >>> streams = StreamSet(load_numpy("models/spx").stream)  # doctest: +SKIP
    >>> streams.update("SPX", 2711.3), streams.update("NDX", 6635.3)  # doctest: +SKIP
    """

    def __init__(self, make_stream: Callable[[], Stream]) -> None:
        self.make_stream = make_stream
        self.streams: dict[str, Stream] = {}

    def __getitem__(self, key: str) -> Stream:
        if key not in self.streams:
            self.streams[key] = self.make_stream()
        return self.streams[key]

    def __contains__(self, key: object) -> bool:
        return key in self.streams

    def __iter__(self) -> Iterator[str]:
        return iter(self.streams)

    def __len__(self) -> int:
        return len(self.streams)

    def update(self, key: str, observation: Any) -> float:
        """The forecast for instrument ``key`` after its new observation."""
        return self[key].update(observation)

    def update_many(self, observations: Mapping[str, Any]) -> dict[str, float]:
        """One tick for several instruments: ``{key: observation}`` -> ``{key: forecast}``."""
        return {k: self[k].update(v) for k, v in observations.items()}

    def reset(self, key: str | None = None) -> None:
        """Reset one instrument's stream, or all of them."""
        for k in [key] if key is not None else list(self.streams):
            self[k].reset()

    def state(self, format: str = "safetensors") -> bytes | str:
        """Every stream's state in one safetensors blob or JSON string (keys in the metadata)."""
        arrays: dict[str, np.ndarray] = {}
        metas = []
        for i, (key, s) in enumerate(self.streams.items()):
            a, m = s._state_parts()
            arrays.update({f"{i}.{name}": v for name, v in a.items()})
            metas.append(m | {"key": key})
        meta = {"format": STATE_FORMAT + "-set", "version": STATE_VERSION, "streams": metas}
        return _encode(arrays, meta, format)

    def load_state(self, data: bytes | str | os.PathLike[str]) -> StreamSet:
        """Restore the streams saved by :meth:`state` (others already here are kept)."""
        arrays, meta, where = _decode(data)
        if meta.get("format") != STATE_FORMAT + "-set":
            raise ModelFileError(
                f"{where} is not a StreamSet state; use Stream.load_state for one stream"
            )
        for i, m in enumerate(meta["streams"]):
            own = {
                name[len(f"{i}.") :]: v for name, v in arrays.items() if name.startswith(f"{i}.")
            }
            self[m["key"]]._restore(own, m, f"{where} [{m['key']}]")
        return self


# -- a model folder served with NumPy only -----------------------------------------------------------


class NumpyForecaster:
    """A saved recurrent model run by ``gatecast.nn`` (NumPy only: torch is never imported).

    ``predict`` is :meth:`gatecast.nn.NumpyModel.predict` (the same forecasts as the torch
    ``RecurrentForecaster.predict``, to float rounding); ``stream()`` gives the same
    :class:`Stream` API as the torch model.
    """

    def __init__(self, model: NumpyModel) -> None:
        self.model = model
        self.manifest = dict(model.manifest)
        self.tensors = dict(model.net.params)
        self.dtype = model.net.dtype
        self.spec = StreamSpec.from_manifest(self.manifest, self.tensors)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], dtype: Any = np.float64) -> NumpyForecaster:
        """Read a model folder (safetensors + JSON, validated by ``gatecast.nn.load``)."""
        from gatecast.nn.inference import load as nn_load

        return cls(nn_load(folder, dtype=dtype))

    @property
    def name(self) -> str:
        return self.spec.cell

    @property
    def target(self) -> TargetSpec:
        return self.spec.target

    def stream(self) -> Stream:
        """A fresh :class:`Stream` on the NumPy engine."""
        return Stream(self.spec, NumpyEngine(self.spec, self.tensors, self.dtype))

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        """Forecasts for the dates of ``data`` in ``[start, end]``, as the torch model's ``predict``."""
        return self.model.predict(data, start, end)


def load_numpy(folder: str | os.PathLike[str], dtype: Any = np.float64) -> NumpyForecaster:
    """Load a model folder for NumPy-only inference; ``load_numpy(folder).stream()`` serves it.

    Examples
    --------
    >>> model = load_numpy("models/spx")  # doctest: +SKIP
    >>> stream = model.stream()  # doctest: +SKIP
    """
    return NumpyForecaster.load(folder, dtype)


# -- rows of text in, forecasts out (the `gatecast stream` command) ----------------------------------

DATE_NAMES = ("date", "time", "timestamp", "datetime")


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
    date = next((str(row.pop(k)) for k in DATE_NAMES if k in row), None)
    for k, v in row.items():
        if isinstance(v, str):
            if not _is_number(v):
                raise RowError(f"column {k!r} holds {v!r}, not a number", date)
            row[k] = float(v)
    return date, row

"""A global model's folder (kinds ``global_variance``, ``global_return``) read and served with
NumPy alone: each instrument as a single-series :class:`NumpyModel`, and a StreamSet over all
of them whose windows run as one batched forward. Imports no torch."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import MANIFEST_FILE, WEIGHTS_FILE, KeyLike, load_model_folder
from gatecast.data.scalers import Scaler, scaler_from_dict
from gatecast.data.windows import first_valid_row
from gatecast.errors import ModelFileError, PanelError
from gatecast.inference.engines import InstrumentEngine, NumpyEngine
from gatecast.inference.pipeline import feature_frame
from gatecast.inference.spec import GATES, MALFORMED, ModelSpec, weights_fingerprint
from gatecast.nn.recurrent import as_dtype
from gatecast.serve.global_folder import GlobalFolder as GlobalFolder
from gatecast.serve.new_instruments import with_new_instruments
from gatecast.serve.numpy_model import NumpyModel
from gatecast.serve.stream import Stream
from gatecast.serve.streamset import StreamSet
from gatecast.types import DateLike

#: A global folder's manifest kind -> the single-series kind of each instrument's view.
GLOBAL_KINDS = {"global_variance": "recurrent_variance", "global_return": "recurrent"}
#: The weights' tensor of the instrument embedding: (instruments, gates x hidden), row k the
#: first layer's input weights of instrument k's one-hot input.
EMBEDDING = "panel.embedding"
_LOADERS = {
    "global_variance": "GlobalRecurrentVariance.load",
    "global_return": "GlobalRecurrentReturn.load",
    "recurrent": "gatecast.load_model (or load_numpy)",
    "recurrent_variance": "gatecast.load_model (or load_numpy)",
}

__all__ = ["GLOBAL_KINDS", "GlobalFolder", "GlobalNumpyModel", "load_global_numpy"]


def read_global_folder(
    folder: str | os.PathLike[str],
    kind: str | None = None,
    *,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> GlobalFolder:
    """A global model folder, verified as every model folder is (its checksums; with a key,
    ``signing_key`` else ``$GATECAST_SIGNING_KEY_FILE``, its signature) and validated: the
    shared net against its spec, the embedding and each instrument's part against the net.

    ``kind`` (``global_variance`` or ``global_return``) refuses a folder of another kind;
    left out, either is read. One :class:`ModelFileError` per fault."""
    tensors, manifest = load_model_folder(
        folder, signing_key=signing_key, require_signature=require_signature
    )
    where = f"{folder}/{MANIFEST_FILE}"
    found = manifest.get("kind")
    if found not in GLOBAL_KINDS or (kind is not None and found != kind):
        expected = kind or " or ".join(repr(k) for k in GLOBAL_KINDS)
        expected = repr(expected) if kind else expected
        loader = _LOADERS.get(str(found), "the loader of its kind")
        raise ModelFileError(
            f"{folder} holds a {found!r} model, expected {expected}: load it with {loader}"
        )
    rows = tensors.pop(EMBEDDING, None)
    spec = ModelSpec.from_manifest({**manifest, "kind": GLOBAL_KINDS[found]}, where)
    spec.check_tensors(tensors, f"{folder}/{WEIGHTS_FILE}")
    spec.check_config(where)
    part = _panel_doc(manifest.get("panel"), spec, found, where)
    names = part[0]
    if part[1] != (rows is not None) or (
        rows is not None and np.shape(rows) != (len(names), GATES[spec.cell] * spec.hidden)
    ):
        raise ModelFileError(
            f"{folder}/{WEIGHTS_FILE}: the embedding tensor {EMBEDDING} does not match the "
            f"manifest (embedding={part[1]}, {len(names)} instruments); re-train or restore"
        )
    if rows is not None and not np.isfinite(rows).all():
        raise ModelFileError(f"{folder}/{WEIGHTS_FILE} holds NaN/inf in {EMBEDDING}: re-train")
    return GlobalFolder(
        found,
        spec,
        tensors,
        None if rows is None else np.asarray(rows),
        tuple(names),
        *part[2:],
    )


def _panel_doc(
    doc: Any, spec: ModelSpec, kind: str, where: str
) -> tuple[
    list[str],
    bool,
    dict[str, Scaler],
    dict[str, Scaler],
    dict[str, float],
    dict[str, str],
    dict[str, tuple[str, str]],
]:
    """The per-instrument part of a global model's manifest, validated (one ModelFileError):
    instruments, embedding, scalers, target scalers, levels, columns, training ranges."""
    variance = kind == "global_variance"
    try:
        names = [str(n) for n in doc["instruments"]]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"instruments {names} are empty or list one twice")
        scalers = {n: scaler_from_dict(doc["scalers"][n]) for n in names}
        tscalers = (
            {} if variance else {n: scaler_from_dict(doc["target_scalers"][n]) for n in names}
        )
        levels = {n: float(doc["levels"][n]) for n in names} if variance else {}
        columns = {} if variance else {n: str(doc["columns"][n]) for n in names}
        ranges = {
            n: (str(doc["train_ranges"][n][0]), str(doc["train_ranges"][n][1])) for n in names
        }
        embedding = doc["embedding"]
        if not isinstance(embedding, bool):
            raise ValueError(f"embedding {embedding!r} is not true or false")
        for n in names:
            parts = [("scaler", scalers[n], spec.input_size)]
            if not variance:
                parts.append(("target scaler", tscalers[n], 1))
            for what, s, width in parts:
                shift, scale = np.asarray(s.shift_), np.asarray(s.scale_)
                if shift.shape != (width,) or scale.shape != shift.shape:
                    raise ValueError(f"instrument {n!r}: its {what} does not have {width} columns")
                if not (np.isfinite(shift).all() and np.isfinite(scale).all()):
                    raise ValueError(f"instrument {n!r}: its {what} holds NaN or inf")
                if not (scale != 0).all():
                    raise ValueError(f"instrument {n!r}: its {what} has a zero scale")
            if variance and not (math.isfinite(levels[n]) and levels[n] > 0):
                raise ValueError(f"instrument {n!r}: its level {levels[n]} is not positive")
    except MALFORMED as exc:
        raise ModelFileError(
            f"{where}: its panel part is malformed ({type(exc).__name__}: {exc}); it was edited "
            f"or not written by gatecast: re-train or restore the folder"
        ) from exc
    return names, embedding, scalers, tscalers, levels, columns, ranges


class GlobalNumpyModel:
    """A global model folder served by the NumPy engine (see :func:`load_global_numpy`): each
    instrument a single-series :class:`NumpyModel` (:meth:`for_instrument`), forecasts for a
    panel (:meth:`predict`) and a :class:`StreamSet` over every instrument
    (:meth:`stream_set`) whose windows run as one batched forward."""

    def __init__(self, parts: GlobalFolder, dtype: Any = np.float64, folder: str = "") -> None:
        self.parts = parts
        self.dtype = as_dtype(dtype)
        self.folder = folder
        #: The shared weights in one engine: every instrument's stream is a view of it.
        self.engine = NumpyEngine(parts.spec, parts.tensors, self.dtype)
        self._views: dict[str, tuple[ModelSpec, InstrumentEngine, str]] = {}

    @property
    def kind(self) -> str:
        return self.parts.kind

    @property
    def instruments(self) -> list[str]:
        """The instruments the model was fit on (the only ones it serves)."""
        return list(self.parts.instruments)

    @property
    def spec(self) -> ModelSpec:
        """The shared net's spec (its scalers are the first instrument's)."""
        return self.parts.spec

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"GlobalNumpyModel({self.kind}, {s.cell}, window={s.window}, "
            f"{len(self.parts.instruments)} instruments, from {self.folder})"
        )

    def min_history(self) -> int:
        """Fewest rows an instrument needs before its first forecast: the rows its inputs need
        before their first value plus ``window`` (as the torch model's ``min_history``)."""
        n = 200
        close = 100.0 * np.exp(0.01 * np.sin(np.arange(n)))
        data = pd.DataFrame(
            {"close": close, "high": close * 1.01, "low": close * 0.99},
            index=pd.bdate_range("2000-01-03", periods=n, name="date"),
        )
        column = self.spec.column
        if column is not None and column not in data:
            data[column] = close
        for c in self.spec.covariates:  # a covariate column is read as it is, from its first row
            data[c] = 0.0
        return first_valid_row(feature_frame(self.spec, data)) + self.spec.window

    def _check(self, name: str) -> None:
        if name not in self.parts.scalers:
            raise PanelError(
                f"instrument {name!r} was not in the fit ({', '.join(self.parts.instruments)}); "
                f"pass its history to fit its "
                f"{'scaler and level' if self.parts.levels else 'scalers'} on "
                f"(for_instrument(name, history), stream_set(history={{{name!r}: rows}}))"
            )

    def with_history(self, history: Mapping[str, pd.DataFrame]) -> GlobalNumpyModel:
        """This model serving also the instruments of ``history`` (instrument -> its rows
        before its first forecast, at least :meth:`min_history` of them): each one's scaler and
        level (a return model: its scalers) fit on those rows, as the torch model's
        ``for_instrument(name, history)`` fits them. Refused by name: an instrument of the fit,
        any new one with ``embedding=True``, a history too short (naming the count)."""
        if not history:
            return self
        parts = with_new_instruments(self.parts, history, self.min_history())
        return GlobalNumpyModel(parts, self.dtype, self.folder)

    def for_instrument(self, name: str, history: pd.DataFrame | None = None) -> NumpyModel:
        """Instrument ``name`` as a single-series :class:`NumpyModel`: the shared weights with
        its embedding and level folded into the biases, and its own scalers; its forecasts are
        those of the torch model's ``for_instrument(name)`` to float rounding. An instrument
        the model was not fit on needs ``history`` (see :meth:`with_history`)."""
        if name not in self.parts.scalers and history is not None:
            return self.with_history({name: history}).for_instrument(name)
        self._check(name)
        parts = self.parts
        return NumpyModel(
            parts.instrument_spec(name), parts.instrument_tensors(name), self.dtype, self.folder
        )

    def predict(
        self, panel: Mapping[str, pd.DataFrame], start: DateLike = None, end: DateLike = None
    ) -> pd.DataFrame:
        """Forecasts for every instrument of ``panel`` and every one of its dates in ``[start,
        end]`` with enough history, each from that instrument's rows before the date only, as
        the torch model's ``predict``: a long frame (``instrument``, ``date``, ``forecast``). An
        instrument the model was not fit on is forecast from its rows before ``start`` (its
        scalers fit on them; at least :meth:`min_history` rows)."""
        parts = []
        for name, df in panel.items():
            history = None
            if str(name) not in self.parts.scalers:
                cut = df.index[0] if start is None else pd.Timestamp(start)
                history = df.loc[df.index < cut]
            fc = self.for_instrument(str(name), history).predict(df, start, end)
            parts.append(
                pd.DataFrame({"instrument": str(name), "date": fc.index, "forecast": fc.values})
            )
        out: pd.DataFrame = pd.concat(parts, ignore_index=True)
        return out

    def _view(self, name: str) -> tuple[ModelSpec, InstrumentEngine, str]:
        """Instrument ``name``'s spec, engine (a view of the shared one) and fingerprint (that
        of its folded weights, as the torch model's view has it: states move between them)."""
        view = self._views.get(name)
        if view is None:
            self._check(name)
            spec, tensors = self.parts.instrument_spec(name), self.parts.instrument_tensors(name)
            engine = InstrumentEngine(self.engine, spec, tensors)
            view = (spec, engine, weights_fingerprint(tensors))
            self._views[name] = view
        return view

    def stream(self, name: str) -> Stream:
        """A fresh :class:`Stream` of instrument ``name`` on a view of the shared engine."""
        spec, engine, fingerprint = self._view(name)
        return Stream(spec, engine, fingerprint)

    def stream_set(self, *, history: Mapping[str, pd.DataFrame] | None = None) -> StreamSet:
        """A :class:`StreamSet` over the fit's instruments, each streaming through its own
        view (its scalers, its biases). A tick of many instruments runs their windows as one
        batched forward of the shared weights, each row with its own biases.

        An instrument the model was not fit on is served only if ``history`` holds its rows
        before its first streamed row (at least :meth:`min_history` of them; refused by name
        when the set is made if too short, or with ``embedding=True``): its scalers are fit on
        those rows, as the torch model's ``stream_set(history=...)`` fits them. Feed the stream
        those rows too to warm it up. Any other instrument is refused by name when it first
        ticks."""
        model = self.with_history(dict(history or {}))
        first = model.parts.instruments[0]
        return StreamSet(lambda: model.stream(first), stream_for=model.stream)


def load_global_numpy(
    folder: str | os.PathLike[str],
    dtype: Any = np.float64,
    *,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> GlobalNumpyModel:
    """Load a global model folder (``GlobalRecurrentVariance.save``, ``GlobalRecurrentReturn
    .save`` or ``gatecast train`` on a panel) for NumPy-only inference; torch is never imported.

    Parameters
    ----------
    folder : path
        A folder of kind ``global_variance`` or ``global_return``.
    dtype : float32 or float64
        The precision the NumPy engine computes in (float32 weights are exact in float64).
    signing_key, require_signature
        Verify the folder's signature, as for any model folder (see
        ``gatecast.inference.read_model_folder``).

    Examples
    --------
    >>> model = load_global_numpy("models/stocks")  # doctest: +SKIP
    >>> streams = model.stream_set()  # doctest: +SKIP
    >>> streams.update_many({"AAPL": row_a, "MSFT": row_m}, at="2018-03-01")  # doctest: +SKIP
    """
    parts = read_global_folder(folder, signing_key=signing_key, require_signature=require_signature)
    return GlobalNumpyModel(parts, dtype, str(folder))

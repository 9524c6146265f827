"""A model folder served with NumPy alone: forecasts, gates and streams, torch never imported."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import numpy as np
import pandas as pd

from gatecast.artifacts import KeyLike
from gatecast.data.features import TargetSpec
from gatecast.data.sequences import sequence_pairs
from gatecast.data.sources import parse_date
from gatecast.data.volatility import VarianceTarget
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError
from gatecast.inference.engines import NumpyEngine
from gatecast.inference.pipeline import (
    BatchEngine,
    model_inputs,
    predict_series,
    residual_base,
    to_target_units,
)
from gatecast.inference.spec import ModelSpec, read_model_folder
from gatecast.nn import GateRecord, RecurrentNet, Stepper
from gatecast.nn.recurrent import as_dtype
from gatecast.nn.stream import Backend
from gatecast.serve.stream import Stream
from gatecast.types import DateLike

_T = TypeVar("_T")


@dataclass(frozen=True)
class WindowGates:
    """The gates behind one forecast: the record over its input rows, their dates, and the forecast.

    Attributes
    ----------
    record : GateRecord
        Batch of one; time runs over `dates`.
    dates : pandas.Index
        Date of each input row shown (the window; in sequence mode its last `window` rows).
    target_date : object
        The date the forecast is for.
    forecast : float
        In target units, as `NumpyModel.predict` gives it.
    """

    record: GateRecord
    dates: pd.Index
    target_date: Any
    forecast: float


class EngineForecasts:
    """The forecasts of a fitted recurrent model, run by an engine over its weights: the torch
    model and :class:`NumpyModel` forecast through this one path."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def _spec_engine(self) -> tuple[ModelSpec, BatchEngine]:
        """The fitted model's spec and an engine over its weights (refused when unfitted)."""
        raise NotImplementedError

    def predict(
        self,
        data: pd.DataFrame,
        start: DateLike = None,
        end: DateLike = None,
        *,
        future: bool = False,
    ) -> pd.Series:
        """Forecasts for every date of `data` in [start, end] with enough history before it
        (see :func:`gatecast.inference.predict_series`).

        Parameters
        ----------
        data : pandas.DataFrame
            Prices as `gatecast.data.load` returns them.
        start, end : date-like, optional
            The first and last date forecast *for*.
        future : bool
            Add the forecasts for the `horizon` dates after the last row.

        Returns
        -------
        pandas.Series
            Indexed by the date each forecast is for, in target units (a probability for
            direction, a variance in percent^2 for variance models).
        """
        spec, engine = self._spec_engine()
        return predict_series(spec, engine, data, start, end, name=self.name, future=future)

    def forecast_next(self, data: pd.DataFrame) -> pd.Series:
        """The forecast for the period after the last row of `data` (the `horizon` periods
        after it for a multi-step target), dated in the data's own calendar."""
        spec, _ = self._spec_engine()
        return self.predict(data, future=True).iloc[-spec.horizon :]

    def forward_windows(self, X: np.ndarray) -> np.ndarray:
        """Raw head outputs (scaled units; logits for direction; log-variances) for scaled
        windows X (see :mod:`gatecast.inference.pipeline`)."""
        _, engine = self._spec_engine()
        return engine.forward_windows(X)


class _FromSpec(Generic[_T]):
    """A read-only attribute of a :class:`NumpyModel` that is its spec's of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, model: None, owner: type | None = None) -> _FromSpec[_T]: ...

    @overload
    def __get__(self, model: NumpyModel, owner: type | None = None) -> _T: ...

    def __get__(self, model: NumpyModel | None, owner: type | None = None) -> _T | _FromSpec[_T]:
        if model is None:
            return self
        value: _T = getattr(model.spec, self.name)
        return value

    def __set__(self, model: NumpyModel, value: object) -> None:
        raise AttributeError(f"NumpyModel.{self.name} is its spec's and cannot be set")


class NumpyModel(EngineForecasts):
    """A saved recurrent model (return or variance family) run by ``gatecast.nn``; see
    :func:`load_numpy`. ``predict`` gives the torch model's forecasts to float rounding and
    ``stream()`` the same :class:`Stream` API as the torch model."""

    def __init__(
        self, spec: ModelSpec, tensors: dict[str, np.ndarray], dtype: Any, folder: str = ""
    ) -> None:
        self.spec = spec
        self.tensors = tensors
        self.folder = folder
        self.engine = NumpyEngine(spec, tensors, dtype)
        self.dtype = self.engine.net.dtype

    @property
    def net(self) -> RecurrentNet:
        """The weights as a ``gatecast.nn.RecurrentNet``."""
        return self.engine.net

    @property
    def name(self) -> str:
        return self.spec.cell

    cell = _FromSpec[str]()
    window = _FromSpec[int]()
    mode = _FromSpec[str]()
    features = _FromSpec[tuple[str, ...]]()
    column = _FromSpec[str | None]()
    target = _FromSpec[TargetSpec | VarianceTarget]()

    @property
    def manifest(self) -> dict[str, Any]:
        return self.spec.to_manifest()

    def _spec_engine(self) -> tuple[ModelSpec, BatchEngine]:
        return self.spec, self.engine

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"NumpyModel({s.cell}, mode={s.mode}, window={s.window}, features={list(s.features)}, "
            f"target={s.target.kind}, from {self.folder})"
        )

    def stream(self, backend: Backend | None = None) -> Stream:
        """A fresh :class:`Stream` on the NumPy engine, in this model's dtype.

        ``backend="numba"`` (the ``gatecast[fast]`` extra) compiles each tick, and a
        :class:`~gatecast.serve.StreamSet`'s batched activations; left out, it is read from
        ``GATECAST_STEPPER`` (default ``"numpy"``). For a whole market in float32 with numba:
        ``StreamSet(lambda: load_numpy(folder, np.float32).stream("numba"))``.
        """
        engine = NumpyEngine(self.spec, self.tensors, self.dtype, backend=backend)
        return Stream.over(self.spec, engine, self.tensors)

    def stepper(self) -> Stepper:
        """A `Stepper` for tick-by-tick inference on scaled inputs (raw head output per tick)."""
        return Stepper(self.net.rnn, self.net.head)

    def gates(self, data: pd.DataFrame, date: DateLike = None) -> WindowGates:
        """Every gate of every layer over the input rows behind one forecast.

        Parameters
        ----------
        data : pandas.DataFrame
        date : date-like, optional
            The date the forecast is for; default the last one `data` allows.

        Returns
        -------
        WindowGates
        """
        feats, scaled = model_inputs(self.spec, data)
        h, window = self.spec.horizon, self.spec.window
        if self.spec.mode == "sequence":
            pairs = sequence_pairs(feats, None, h, values=scaled)
            index, k = pairs.index, _pick(pairs.index, date)
            x = pairs.X[None, : k + 1]  # the state carries from the first row
        else:
            win = make_windows(feats, None, window, h, values=scaled)
            index, k = win.index, _pick(win.index, date)
            x = np.asarray(win.X[k : k + 1])
        out = self.net.rnn.forward(x, record=True)
        rec = out.record
        assert rec is not None
        raw = self.net.head(out.output[0, -1][None])[0, 0]
        row = int(np.flatnonzero(feats.index == index[k])[0]) - h  # the last input row
        n = min(window, x.shape[1])
        values = {name: v[:, :, -n:] for name, v in rec.values.items()}
        forecast = float(to_target_units(self.spec, np.array([raw]))[0])
        if self.spec.residual is not None:  # a hybrid scales the residual model's forecast
            forecast *= float(residual_base(self.spec, data, index[k : k + 1])[0])
        return WindowGates(
            GateRecord(rec.cell, values, np.array([n])),
            feats.index[row - n + 1 : row + 1],
            index[k],
            forecast,
        )


def load_numpy(
    folder: str | os.PathLike[str],
    dtype: Any = np.float64,
    *,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> NumpyModel:
    """Load a model folder (``model.safetensors`` + ``manifest.json``) for NumPy-only inference.

    Parameters
    ----------
    folder : path
        Written by ``gatecast train`` or a model's ``save``.
    dtype : float32 or float64
        The precision the NumPy engine computes in (weights trained in float32 are exact in
        float64).
    signing_key, require_signature
        Verify the folder's signature (see ``gatecast.inference.read_model_folder``).

    Examples
    --------
    >>> model = load_numpy("models/spx")  # doctest: +SKIP
    >>> model.predict(gatecast.data.load("sp500"), start="2018-01-01")  # doctest: +SKIP
    >>> stream = model.stream()  # doctest: +SKIP
    """
    spec, tensors = read_model_folder(
        folder, signing_key=signing_key, require_signature=require_signature
    )
    return NumpyModel(spec, tensors, as_dtype(dtype), str(folder))


def _pick(index: pd.Index, date: DateLike) -> int:
    """Position of the forecast for `date` (default: the last), else a ConfigError."""
    if len(index) == 0:
        raise ConfigError(
            "the data gives no forecast at all; it is shorter than the model's window"
        )
    if date is None:
        return len(index) - 1
    key = parse_date(date, "date") if isinstance(index, pd.DatetimeIndex) else date
    hits = np.flatnonzero(index == key)
    if hits.size == 0:
        raise ConfigError(
            f"no forecast is made for {date}: forecasts run from {index[0]} to {index[-1]} "
            "on the data's trading days; pick a date in that range (--date)"
        )
    return int(hits[0])

"""Serve a saved gatecast model folder with NumPy alone: weights, scalers, features; no torch.

This is the one module of `gatecast.nn` that uses other gatecast layers: `gatecast.artifacts` to
read the folder and the torch-free `gatecast.data` to rebuild the model's inputs exactly as training
did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import load_model_folder
from gatecast.data.features import TargetSpec, build_features
from gatecast.data.scalers import scaler_from_dict
from gatecast.data.sequences import sequence_pairs
from gatecast.data.sources import resolve_column
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError, ModelFileError
from gatecast.nn.network import RecurrentNet
from gatecast.nn.recurrent import STACKS, GateRecord, as_dtype
from gatecast.nn.stream import Stepper

MODES = ("window", "sequence")


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


class NumpyModel:
    """A recurrent model folder loaded for NumPy-only inference; see `load`.

    Attributes
    ----------
    net : RecurrentNet
        The weights, in `dtype`.
    manifest : dict
        The folder's manifest.json.
    cell, window, mode, features, column, target
        From the manifest.
    """

    def __init__(self, net: RecurrentNet, manifest: dict[str, Any], folder: str) -> None:
        self.net = net
        self.manifest = manifest
        self.folder = folder
        self.cell = str(manifest["cell"])
        self.window = int(manifest["window"])
        self.mode = str(manifest.get("mode", "window"))
        self.features = tuple(manifest["features"])
        self.column = manifest.get("column")
        self.target = TargetSpec.from_dict(manifest["target"])
        self.feature_scaler_ = scaler_from_dict(manifest["scalers"]["features"])
        self.target_scaler_ = scaler_from_dict(manifest["scalers"]["target"])

    @property
    def name(self) -> str:
        return self.cell

    def __repr__(self) -> str:
        return (
            f"NumpyModel({self.cell}, mode={self.mode}, window={self.window}, "
            f"features={list(self.features)}, target={self.target.kind}, from {self.folder})"
        )

    # -- inputs ---------------------------------------------------------------------------------

    def _scaled(self, data: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        col = resolve_column(data, self.column)
        feats = build_features(data, self.features, col, log=self.target.log)
        return feats, self.feature_scaler_.transform(feats.to_numpy(dtype=float))

    def _to_target_units(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.target.kind == "direction":  # the head gives a logit
            return 1.0 / (1.0 + np.exp(-raw))
        return self.target_scaler_.inverse_transform(raw)

    # -- forecasts ------------------------------------------------------------------------------

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        """Forecasts for the dates of `data` in [start, end] with enough history, like the torch model.

        Parameters
        ----------
        data : pandas.DataFrame
            Prices as `gatecast.data.load` returns them.
        start, end : date-like, optional
            The first and last date forecast *for*.

        Returns
        -------
        pandas.Series
            Indexed by the date each forecast is for, in target units (a probability for direction).
        """
        feats, scaled = self._scaled(data)
        if self.mode == "sequence":
            pairs = sequence_pairs(feats, None, self.target.horizon, values=scaled)
            out, _ = self.net.rnn(pairs.X[None])  # one pass from a zero state, head at every step
            raw, index = self.net.head(out[0])[:, 0], pairs.index
        else:
            win = make_windows(feats, None, self.window, self.target.horizon, values=scaled)
            keep = _date_mask(win.index, start, end)
            raw, index = self.forward_windows(win.X[keep]), win.index[keep]
        fc = pd.Series(self._to_target_units(raw), index=index, name=self.name)
        return fc[_date_mask(fc.index, start, end)]

    def forward_windows(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Raw head outputs (scaled units; logits for direction) for scaled windows X."""
        if len(X) == 0:
            return np.zeros(0)
        return np.concatenate(
            [self.net(np.asarray(X[s : s + batch]))[:, 0] for s in range(0, len(X), batch)]
        ).astype(float)

    def gates(self, data: pd.DataFrame, date: Any = None) -> WindowGates:
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
        feats, scaled = self._scaled(data)
        h = self.target.horizon
        if self.mode == "sequence":
            pairs = sequence_pairs(feats, None, h, values=scaled)
            index, k = pairs.index, _pick(pairs.index, date)
            x = pairs.X[None, : k + 1]  # the state carries from the first row
        else:
            win = make_windows(feats, None, self.window, h, values=scaled)
            index, k = win.index, _pick(win.index, date)
            x = np.asarray(win.X[k : k + 1])
        out = self.net.rnn.forward(x, record=True)
        rec = out.record
        assert rec is not None
        last = out.output[0, -1]
        raw = self.net.head(last[None])[0, 0]
        row = int(np.flatnonzero(feats.index == index[k])[0]) - h  # the last input row
        n = min(self.window, x.shape[1])
        values = {name: v[:, :, -n:] for name, v in rec.values.items()}
        trimmed = GateRecord(rec.cell, values, np.array([n]))
        return WindowGates(
            trimmed,
            feats.index[row - n + 1 : row + 1],
            index[k],
            float(self._to_target_units(np.array([raw]))[0]),
        )

    def stepper(self) -> Stepper:
        """A `Stepper` for tick-by-tick inference on scaled inputs (raw head output per tick)."""
        return Stepper(self.net.rnn, self.net.head)


def load(model_dir: str | os.PathLike[str], *, dtype: Any = None) -> NumpyModel:
    """Load a model folder (``model.safetensors`` + ``manifest.json``) for NumPy-only inference.

    Parameters
    ----------
    model_dir : path
        Written by ``gatecast train`` / ``RecurrentForecaster.save``.
    dtype : float32 or float64, optional
        Default: the manifest's ``dtype`` (float32 for models trained with torch).

    Returns
    -------
    NumpyModel
        With ``predict(data, start=None, end=None) -> pandas.Series`` like the torch model's.

    Examples
    --------
    >>> model = load("models/spx")  # doctest: +SKIP
    >>> model.predict(gatecast.data.load("sp500"), start="2018-01-01")  # doctest: +SKIP
    """
    tensors, m = load_model_folder(model_dir, expect_kind="recurrent")
    where = f"{model_dir}/manifest.json"
    cell = m.get("cell")
    if cell not in STACKS:
        raise ModelFileError(f"{where}: unknown cell {cell!r}; expected one of {sorted(STACKS)}")
    mode = m.get("mode", "window")
    if mode not in MODES:
        raise ModelFileError(
            f"{where}: mode {mode!r} is unknown to this gatecast ({', '.join(MODES)}); "
            "upgrade gatecast or re-train"
        )
    if int(m["input_size"]) != len(m["features"]):
        raise ModelFileError(
            f"{where} says input_size={m['input_size']} but lists {len(m['features'])} "
            "features; the file was edited or corrupted"
        )
    dt = as_dtype(dtype if dtype is not None else m.get("dtype", "float32"))
    out_features = np.shape(tensors.get("head.bias", np.zeros(1)))[0]
    net = RecurrentNet(
        cell, int(m["input_size"]), int(m["hidden"]), int(m["layers"]), out_features, dtype=dt
    )
    expected = {k: v.shape for k, v in net.params.items()}
    found = {k: tuple(np.shape(v)) for k, v in tensors.items()}
    if expected != found:
        raise ModelFileError(
            f"{model_dir}/model.safetensors does not match its manifest ({cell}, hidden "
            f"{m['hidden']}, layers {m['layers']}): expected {expected}, found {found}"
        )
    net.load_params(tensors)
    return NumpyModel(net, m, str(model_dir))


def _key(index: pd.Index, value: Any) -> Any:
    from gatecast.data.sources import parse_date

    return parse_date(value, "date") if isinstance(index, pd.DatetimeIndex) else value


def _date_mask(index: pd.Index, start: Any, end: Any) -> np.ndarray:
    keep = np.ones(len(index), dtype=bool)
    if start is not None:
        keep &= np.asarray(index >= _key(index, start))
    if end is not None:
        keep &= np.asarray(index <= _key(index, end))
    return keep


def _pick(index: pd.Index, date: Any) -> int:
    """Position of the forecast for `date` (default: the last), else a ConfigError."""
    if len(index) == 0:
        raise ConfigError(
            "the data gives no forecast at all; it is shorter than the model's window"
        )
    if date is None:
        return len(index) - 1
    key = _key(index, date)
    hits = np.flatnonzero(index == key)
    if hits.size == 0:
        raise ConfigError(
            f"no forecast is made for {date}: forecasts run from {index[0]} to {index[-1]} "
            "on the data's trading days; pick a date in that range (--date)"
        )
    return int(hits[0])

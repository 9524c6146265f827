"""The one prediction pipeline: (spec, data) -> scaled inputs -> engine -> forecasts in target
units. The torch engine, the NumPy engine and the stream all go through these functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from gatecast.data.calendar import Calendar, calendar_for, next_dates
from gatecast.data.features import build_features, from_anchor, price_series
from gatecast.data.sequences import sequence_pairs
from gatecast.data.sources import resolve_column
from gatecast.data.splits import date_mask
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError
from gatecast.inference.classical import by_origin
from gatecast.inference.spec import ModelSpec
from gatecast.types import DateLike


class BatchEngine(Protocol):
    """Runs a model's network on scaled inputs and returns its raw head outputs (float64)."""

    def forward_windows(self, X: np.ndarray) -> np.ndarray:
        """One output per window of ``X`` (n, window, F), each from a zero state."""
        ...

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        """One output per row of ``X`` (T, F), run in order from a zero state."""
        ...


def check_covariates(data: pd.DataFrame, covariates: Sequence[str]) -> None:
    """Refuse ``data`` that lacks one of the ``covariates`` columns a model reads (at its fit or
    its forecasts), naming them, the data and its columns."""
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise ConfigError(
            f"the model reads the covariate column(s) {missing}, which "
            f"{data.attrs.get('source', 'the data')} lacks; join them first "
            f"(gatecast.data.covariates.join_covariates) to its columns "
            f"({', '.join(map(str, data.columns))})"
        )


def feature_frame(spec: ModelSpec, data: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs on every row of ``data``, in raw units: its features, its covariates
    (columns of ``data``, joined on by :func:`gatecast.data.covariates.join_covariates`), then
    (a hybrid) the log of each classical forecast made at that row's close."""
    col = resolve_column(data, spec.column)
    u = spec.units
    feats = build_features(data, spec.features, col, log=u.log, percent=u.percent)
    check_covariates(data, spec.covariates)
    for c in spec.covariates:
        feats[c] = data[c].astype(float)
    for rec in spec.classical:
        feats[f"log_{rec.name}_forecast"] = np.log(by_origin(rec, data, col))
    return feats


def residual_base(spec: ModelSpec, data: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """The residual model's forecast for each date of ``index`` (dates of ``data`` and at most
    the bars after it), made at the close of the row before: what a hybrid's output scales."""
    assert spec.residual is not None
    origin = by_origin(spec.residual, data, resolve_column(data, spec.column))
    later = index[index > data.index[-1]] if len(data) else index
    base: np.ndarray = origin.reindex(origin.index.append(later)).shift(1).reindex(index).to_numpy()
    return base


def model_inputs(spec: ModelSpec, data: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The features of ``data`` and the same values scaled by the model's (training) scaler."""
    feats = feature_frame(spec, data)
    return feats, spec.feature_scaler.transform(feats.to_numpy(dtype=float))


def to_target_units(
    spec: ModelSpec, raw: np.ndarray, anchor: np.ndarray | None = None
) -> np.ndarray:
    """Raw head outputs -> forecasts: a probability (direction), a variance (exp of the
    log-variance), a price moved from its ``anchor`` (the price ``horizon`` rows before the date
    forecast) by the forecast return, or the target scaler's inverse."""
    raw = np.asarray(raw, dtype=float)
    out: np.ndarray
    if spec.output == "logit":
        out = 1.0 / (1.0 + np.exp(-raw))
    elif spec.output == "log_variance":
        out = np.exp(raw)
    elif spec.output == "anchored_price":
        if anchor is None:
            raise ConfigError("an anchored price forecast needs the price it is anchored on")
        r = spec.target_scaler.inverse_transform(raw)
        out = np.asarray(from_anchor(np.asarray(anchor, dtype=float), r, log=spec.units.log))
    else:
        out = spec.target_scaler.inverse_transform(raw)
    return out


def to_target_unit(spec: ModelSpec, raw: float, anchor: float = math.nan) -> float:
    """:func:`to_target_units` for one number, without NumPy (the stream's hot path)."""
    if spec.output == "logit":
        return 1.0 / (1.0 + math.exp(-raw))
    if spec.output == "log_variance":
        return math.exp(raw)
    shift = float(np.asarray(spec.target_scaler.shift_)[0])
    value = raw * float(np.asarray(spec.target_scaler.scale_)[0]) + shift
    if spec.output == "anchored_price":
        return anchor * math.exp(value) if spec.units.log else anchor * (1.0 + value)
    return value


def future_calendar(spec: ModelSpec, index: pd.Index) -> Calendar:
    """The calendar that dates the bars after ``index``: the exchange the model records (its
    manifest's ``calendar``), fitted to this data's bar length, or the data's own calendar
    (learnt from ``index``) for a model that records ``data`` or nothing."""
    recorded = spec.calendar
    return calendar_for(index, recorded.name if recorded is not None else None)


def with_future_rows(frame: pd.DataFrame, dates: pd.Index) -> pd.DataFrame:
    """``frame`` followed by placeholder rows (zeros) at ``dates``. Windows and sequence pairs
    only ever read rows at least ``horizon`` before the date they forecast, so ``horizon``
    placeholder rows give the forecasts beyond the data without being read themselves."""
    pad = pd.DataFrame(0.0, index=dates, columns=frame.columns)
    out: pd.DataFrame = pd.concat([frame, pad])
    out.index.name = frame.index.name
    return out


def predict_series(
    spec: ModelSpec,
    engine: BatchEngine,
    data: pd.DataFrame,
    start: DateLike = None,
    end: DateLike = None,
    name: str | None = None,
    *,
    future: bool = False,
) -> pd.Series:
    """Forecasts for every date of ``data`` in ``[start, end]`` with enough history, indexed by
    the date each is *for*, in target units.

    Window mode runs the network on the ``window`` scaled rows before each date (only for the
    dates asked for); sequence mode runs it once over the whole history from a zero state, so
    the forecast for t is the head of the state after the input row t - horizon. ``future``
    adds the ``horizon`` forecasts for the bars after the last row (in the calendar the model
    records, fitted to ``data``: :func:`future_calendar`), made from the rows up to the last one.
    """
    feats, scaled = model_inputs(spec, data)
    col = resolve_column(data, spec.column)
    anchor = None
    if spec.output == "anchored_price":
        anchor = price_series(data, col)
    if future:
        dates = next_dates(data.index, spec.horizon, future_calendar(spec, data.index))
        feats = with_future_rows(feats, dates)
        scaled = np.vstack([scaled, np.zeros((len(dates), scaled.shape[1]))])
        if anchor is not None:
            anchor = anchor.reindex(anchor.index.append(dates))
    if spec.mode == "sequence":
        pairs = sequence_pairs(feats, None, spec.horizon, values=scaled)
        keep = date_mask(pairs.index, start, end)
        raw = engine.forward_sequence(pairs.X)[keep]
        index = pairs.index[keep]
    else:
        win = make_windows(feats, None, spec.window, spec.horizon, values=scaled)
        keep = date_mask(win.index, start, end)
        index = win.index[keep]
        raw = engine.forward_windows(win.X[keep]) if keep.any() else np.zeros(0)
    base = anchor.shift(spec.horizon).reindex(index).to_numpy() if anchor is not None else None
    values = to_target_units(spec, raw, base)
    if spec.residual is not None:  # the head gives log(variance / the residual model's forecast)
        values = values * residual_base(spec, data, index)
    fc: pd.Series = pd.Series(values, index=index, name=name or spec.cell)
    return fc

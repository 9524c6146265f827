"""Sliding windows over a feature matrix, each paired with the target it forecasts and that target's date."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from gatecast.errors import ConfigError, MissingValueError, TooFewRowsError


@dataclass(frozen=True)
class Windows:
    """Model inputs ``X`` (n, window, features: a read-only strided view, no copy), targets ``y`` (n,)
    and ``index``: the date each target is *for*. Window k holds feature rows k .. k+window-1 and its
    target sits ``horizon`` rows after the window's last row."""

    X: np.ndarray
    y: np.ndarray
    index: pd.Index

    def __len__(self) -> int:
        return len(self.index)

    def select(self, mask: np.ndarray) -> Windows:
        """The windows where ``mask`` (boolean, one per window) is true."""
        return Windows(self.X[mask], self.y[mask], self.index[mask])


def sliding_windows(values: np.ndarray, window: int) -> np.ndarray:
    """All windows of ``window`` consecutive rows of a (T, F) array, as a (T - window + 1, window, F)
    view (``sliding_window_view``: no Python loop, no copy)."""
    if window < 1:
        raise ConfigError(f"window={window}: must be >= 1")
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[0] < window:
        raise TooFewRowsError(f"{values.shape[0]} rows cannot fill one window of {window}")
    view: np.ndarray = sliding_window_view(values, window, axis=0).transpose(0, 2, 1)
    return view


def first_valid_row(features: pd.DataFrame) -> int:
    """Position of the first row where every feature is finite (earlier rows are NaN by construction,
    e.g. the first return)."""
    ok = np.isfinite(features.to_numpy(dtype=float)).all(axis=1)
    if not ok.any():
        raise MissingValueError("no row has every feature finite; check the input columns")
    return int(np.argmax(ok))


def make_windows(
    features: pd.DataFrame,
    target: pd.Series | None,
    window: int,
    horizon: int = 1,
    *,
    values: np.ndarray | None = None,
) -> Windows:
    """Pair each window of features with the target ``horizon`` rows after the window's last row.

    Parameters
    ----------
    features
        (T, F) frame; leading all-NaN rows (structural, e.g. the first return) are skipped. Any later
        NaN/inf raises :class:`MissingValueError` naming its date.
    target
        Series on the same index, or None (then ``y`` is NaN: windows for prediction only).
    window, horizon
        Window length and forecast horizon (>= 1).
    values
        Optional (T, F) array to window instead of ``features.to_numpy()`` (e.g. scaled values).

    Returns
    -------
    Windows whose ``index`` is the date each target is for: a forecast for date t uses feature rows
    up to t - horizon only.
    """
    if horizon < 1:
        raise ConfigError(f"horizon={horizon}: must be >= 1")
    arr = features.to_numpy(dtype=float) if values is None else np.asarray(values)
    start = first_valid_row(features)
    body = arr[start:]
    bad = ~np.isfinite(body).all(axis=1)
    if bad.any():
        row = start + int(np.argmax(bad))
        cols = [c for c, b in zip(features.columns, ~np.isfinite(arr[row]), strict=True) if b]
        raise MissingValueError(
            f"feature(s) {cols} are NaN/inf on {features.index[row]}; clean the columns they are "
            f"built from in the input (--dropna cleans the price column only; a zero volume makes "
            f"log_volume_change NaN)"
        )
    n = len(body) - window - horizon + 1
    if n < 1:
        raise TooFewRowsError(
            f"{len(body)} usable rows cannot make one window of {window} with horizon {horizon}; "
            f"need at least {window + horizon} (plus the first row lost to returns)"
        )
    X = sliding_windows(body, window)[:n]
    pos = np.arange(start + window - 1 + horizon, start + window - 1 + horizon + n)
    index = features.index[pos]
    if target is None:
        y = np.full(n, np.nan)
    else:
        y = target.to_numpy(dtype=float)[pos]
        if not np.isfinite(y).all():
            k = int(np.argmax(~np.isfinite(y)))
            raise MissingValueError(f"the target is NaN/inf on {index[k]}; clean the input column")
    return Windows(X, y, index)

"""Scalers fit on training data only, stored with the model as plain numbers (JSON)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gatecast.errors import ConfigError, ConstantSeriesError, NotFittedError

SCALERS = ("minmax", "standard", "none")


class Scaler:
    """Per-column affine map ``z = (x - shift) / scale``, fit on training rows only."""

    kind = "none"

    def __init__(self) -> None:
        self.shift_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, values: np.ndarray, names: list[str] | None = None) -> Scaler:
        """Learn the per-column parameters from training rows ``values`` (n, F) or (n,)."""
        arr = np.asarray(values, dtype=float)
        arr2 = arr[:, None] if arr.ndim == 1 else arr
        arr2 = arr2[np.isfinite(arr2).all(axis=1)]
        if arr2.shape[0] == 0:
            raise ConfigError("cannot fit a scaler on zero finite rows")
        shift, scale = self._params(arr2)
        if np.any(scale == 0):
            j = int(np.argmax(scale == 0))
            name = names[j] if names else f"column {j}"
            raise ConstantSeriesError(
                f"{name} is constant over the training range ({arr2[0, j]}), so it cannot be "
                f"scaled; use a longer training range or another feature"
            )
        self.shift_, self.scale_ = shift, scale
        return self

    def _params(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(arr.shape[1]), np.ones(arr.shape[1])

    def _check(self) -> tuple[np.ndarray, np.ndarray]:
        if self.shift_ is None or self.scale_ is None:
            raise NotFittedError(f"this {self.kind} scaler is not fitted; call fit(train) first")
        return self.shift_, self.scale_

    def transform(self, values: np.ndarray) -> np.ndarray:
        shift, scale = self._check()
        arr = np.asarray(values, dtype=float)
        out: np.ndarray
        if arr.ndim == 1:
            out = (arr - shift[0]) / scale[0]
        else:
            out = (arr - shift) / scale
        return out

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        shift, scale = self._check()
        arr = np.asarray(values, dtype=float)
        out: np.ndarray
        if arr.ndim == 1:
            out = arr * scale[0] + shift[0]
        else:
            out = arr * scale + shift
        return out

    def to_dict(self) -> dict[str, Any]:
        shift, scale = self._check()
        return {"kind": self.kind, "shift": shift.tolist(), "scale": scale.tolist()}


class NoScaler(Scaler):
    """Identity."""

    kind = "none"


class MinMaxScaler(Scaler):
    """Maps the training minimum to 0 and maximum to 1 (test values may fall outside)."""

    kind = "minmax"

    def _params(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = arr.min(axis=0), arr.max(axis=0)
        return lo, hi - lo


class StandardScaler(Scaler):
    """Zero mean, unit (population) standard deviation over the training rows."""

    kind = "standard"

    def _params(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = arr.std(axis=0)
        std[np.ptp(arr, axis=0) == 0] = 0.0  # a constant column's std can round to ~1e-17, not 0
        return arr.mean(axis=0), std


_KINDS: dict[str, type[Scaler]] = {
    "minmax": MinMaxScaler,
    "standard": StandardScaler,
    "none": NoScaler,
}


def make_scaler(kind: str) -> Scaler:
    """A new, unfitted scaler of ``kind`` (``minmax``, ``standard`` or ``none``)."""
    if kind not in _KINDS:
        raise ConfigError(f"scaler {kind!r} is unknown; choose one of {', '.join(SCALERS)}")
    return _KINDS[kind]()


def fit_scaler(kind: str, train: np.ndarray, names: list[str] | None = None) -> Scaler:
    """A scaler of ``kind`` fit on the training rows ``train`` only."""
    return make_scaler(kind).fit(train, names)


def scaler_from_dict(d: dict[str, Any]) -> Scaler:
    """Rebuild a fitted scaler from :meth:`Scaler.to_dict` output."""
    s = make_scaler(d["kind"])
    s.shift_ = np.asarray(d["shift"], dtype=float)
    s.scale_ = np.asarray(d["scale"], dtype=float)
    return s

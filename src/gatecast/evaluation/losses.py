"""Per-date losses for forecast comparison: squared error, absolute error and QLIKE (Patton 2011)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from gatecast.data.volatility import QLIKE_FLOOR
from gatecast.errors import ConfigError
from gatecast.evaluation.metrics import aligned

__all__ = [
    "QLIKE_FLOOR",
    "LossName",
    "absolute_error",
    "loss_series",
    "qlike",
    "qlike_loss",
    "squared_error",
]

LossName = Literal["qlike", "mse", "mae"]


def _arrays(proxy: Any, forecast: Any) -> tuple[np.ndarray, np.ndarray]:
    return aligned(proxy, forecast, "proxy")


def squared_error(actual: Any, forecast: Any) -> np.ndarray:
    """(a - f)^2 for each date."""
    a, f = _arrays(actual, forecast)
    out: np.ndarray = (a - f) ** 2
    return out


def absolute_error(actual: Any, forecast: Any) -> np.ndarray:
    """|a - f| for each date."""
    a, f = _arrays(actual, forecast)
    out: np.ndarray = np.abs(a - f)
    return out


def qlike_loss(proxy: Any, forecast: Any, *, floor: float = QLIKE_FLOOR) -> np.ndarray:
    """QLIKE for each date (Patton 2011): p/f - log(p/f) - 1, zero for a perfect forecast.

    Robust to noise in the proxy: ranks variance forecasts the same with r^2 or a range proxy.
    The proxy is floored at ``floor`` (see :data:`QLIKE_FLOOR`); forecasts must be positive.
    """
    p, f = _arrays(proxy, forecast)
    if np.any(~(f > 0)):
        raise ConfigError(
            f"QLIKE needs positive variance forecasts; {int(np.sum(~(f > 0)))} are <= 0 or NaN. "
            f"Clip the forecasts or use MSE"
        )
    x = np.maximum(p, floor) / f
    out: np.ndarray = x - np.log(x) - 1.0
    return out


LOSSES: dict[LossName, Callable[..., np.ndarray]] = {
    "qlike": qlike_loss,
    "mse": squared_error,
    "mae": absolute_error,
}


def loss_series(name: LossName, actual: Any, forecast: Any) -> np.ndarray:
    """The per-date loss ``name`` (``qlike``, ``mse`` or ``mae``)."""
    if name not in LOSSES:
        raise ConfigError(f"loss {name!r} is unknown; choose one of {', '.join(LOSSES)}")
    return LOSSES[name](actual, forecast)


def qlike(proxy: Any, forecast: Any, *, floor: float = QLIKE_FLOOR) -> float:
    """Mean QLIKE loss; see :func:`qlike_loss`."""
    return float(np.mean(qlike_loss(proxy, forecast, floor=floor)))

"""Point-forecast metrics, each comparing forecasts with actuals on the dates both have."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import AlignmentError, ConfigError


def aligned(first: Any, forecast: Any, what: str = "actual") -> tuple[np.ndarray, np.ndarray]:
    """``first`` (the ``what``: actuals, a proxy) and ``forecast`` as float arrays of one shape;
    an :class:`AlignmentError` where their shapes differ."""
    a = np.asarray(first, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if a.shape != f.shape:
        raise AlignmentError(
            f"{what} has shape {a.shape} but forecast has {f.shape}; align them first"
        )
    return a, f


def _xy(actual: Any, forecast: Any) -> tuple[np.ndarray, np.ndarray]:
    a, f = aligned(actual, forecast)
    if a.size == 0:
        raise AlignmentError("no forecasts to score (empty series)")
    return a, f


def mse(actual: Any, forecast: Any) -> float:
    """Mean squared error."""
    a, f = _xy(actual, forecast)
    return float(np.mean((a - f) ** 2))


def rmse(actual: Any, forecast: Any) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(actual, forecast)))


def mae(actual: Any, forecast: Any) -> float:
    """Mean absolute error."""
    a, f = _xy(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def mape(actual: Any, forecast: Any) -> float:
    """Mean absolute percentage error, in percent (for price levels only: returns cross zero)."""
    a, f = _xy(actual, forecast)
    if np.any(a == 0):
        raise ConfigError("MAPE is undefined where the actual value is 0; use it for prices only")
    return float(100 * np.mean(np.abs((a - f) / a)))


def theil_u(actual: Any, forecast: Any, naive: Any) -> float:
    """Theil's U2: RMSE of the forecast over RMSE of the no-change forecast (< 1 beats no-change)."""
    return rmse(actual, forecast) / rmse(actual, naive)


def oos_r2(actual: Any, forecast: Any, benchmark: Any) -> float:
    """Out-of-sample R^2 (Campbell-Thompson): 1 - SSE(forecast) / SSE(historical-mean benchmark)."""
    a, f = _xy(actual, forecast)
    _, b = _xy(actual, benchmark)
    return float(1 - np.sum((a - f) ** 2) / np.sum((a - b) ** 2))


def hit_rate(actual_move: Any, forecast_move: Any) -> float:
    """Share of dates where the forecast move has the sign of the actual move (zeros count as
    misses unless both are zero). NaN for a forecast that is zero on every date (no-change)."""
    a, f = _xy(actual_move, forecast_move)
    if not np.any(f):
        return float("nan")  # a forecast that never moves has no direction to score
    return float(np.mean(np.sign(a) == np.sign(f)))


def score(
    target_kind: str,
    actual: pd.Series,
    forecast: pd.Series,
    naive: pd.Series,
    mean: pd.Series,
    last_price: pd.Series | None = None,
) -> dict[str, float]:
    """Every metric that makes sense for ``target_kind``, on the dates all inputs share.

    ``naive`` is the no-change forecast and ``mean`` the historical-mean one; ``last_price`` (the
    price at t - h) turns price forecasts into moves for the hit rate.
    """
    frame = pd.concat({"a": actual, "f": forecast, "n": naive, "m": mean}, axis=1, join="inner")
    if last_price is not None:
        frame = frame.join(last_price.rename("p"), how="inner")
    if frame.empty:
        raise AlignmentError(
            "the forecasts share no dates with the actual values; check that both cover the "
            "test period"
        )
    a, f = frame["a"].to_numpy(), frame["f"].to_numpy()
    out = {"n": float(len(frame)), "mse": mse(a, f), "rmse": rmse(a, f), "mae": mae(a, f)}
    if target_kind == "direction":
        out["hit_rate"] = float(np.mean((f > 0.5) == (a > 0.5)))  # mse is the Brier score here
        return out
    nc = frame["n"].to_numpy()
    out["theil_u"] = theil_u(a, f, nc) if np.any(a != nc) else float("nan")
    out["oos_r2"] = oos_r2(a, f, frame["m"].to_numpy())
    if target_kind == "price":
        out["mape"] = mape(a, f)
        if last_price is not None:
            p = frame["p"].to_numpy()
            out["hit_rate"] = hit_rate(a - p, f - p)
    else:
        out["hit_rate"] = hit_rate(a, f)
    return out

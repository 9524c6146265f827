"""Targets and input features computed from prices, each value stamped with the time it is *for*."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.sources import resolve_column
from gatecast.errors import ConfigError, ConstantSeriesError, NonPositivePriceError

TARGET_KINDS = ("price", "return", "direction")
FEATURES = ("return", "price", "abs_return", "squared_return", "log_range", "log_volume_change")


@dataclass(frozen=True)
class TargetSpec:
    """What is forecast: ``price`` (level), ``return`` (log or simple, over ``horizon`` steps) or
    ``direction`` (1.0 if that return is > 0)."""

    kind: str = "return"
    log: bool = True
    horizon: int = 1

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ConfigError(
                f"target {self.kind!r} is unknown; choose one of {', '.join(TARGET_KINDS)}"
            )
        if int(self.horizon) != self.horizon or self.horizon < 1:
            raise ConfigError(f"horizon={self.horizon}: must be an integer >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetSpec:
        return cls(kind=d["kind"], log=bool(d.get("log", True)), horizon=int(d.get("horizon", 1)))


def price_series(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """The price column as floats (the preferred price column if ``column`` is None)."""
    col = resolve_column(df, column)
    return df[col].astype(float).rename(col)


def check_positive(prices: pd.Series, where: str = "the data") -> None:
    """Raise if a price is <= 0 (log returns need positive prices), naming the first date."""
    bad = prices.to_numpy() <= 0
    if bad.any():
        first = prices.index[int(np.argmax(bad))]
        raise NonPositivePriceError(
            f"column {prices.name!r} of {where} has {int(bad.sum())} non-positive value(s), the first "
            f"({prices.iloc[int(np.argmax(bad))]}) on {first}; log returns need positive prices: "
            f"use --target price, simple returns (log=False), or another column"
        )


def check_not_constant(values: pd.Series | np.ndarray, name: str, where: str = "the data") -> None:
    """Raise if every finite value is the same (nothing to scale or learn)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0 or np.ptp(arr) == 0:
        raise ConstantSeriesError(
            f"{name!r} in {where} is constant ({arr[0] if arr.size else 'no values'}); there is "
            f"nothing to learn: pick another column or a longer range"
        )


def returns(prices: pd.Series, *, log: bool = True, periods: int = 1) -> pd.Series:
    """Returns over ``periods`` steps, stamped with the later date (NaN for the first ``periods``)."""
    if log:
        check_positive(prices)
        return np.log(prices).diff(periods)
    return prices.pct_change(periods, fill_method=None)


def make_target(df: pd.DataFrame, spec: TargetSpec, column: str | None = None) -> pd.Series:
    """The target for each date t: P_t, the return from t-h to t, or 1.0 if that return is > 0.

    The value at t is what a forecast made with information up to t-h tries to predict.
    """
    prices = price_series(df, column)
    if spec.kind == "price":
        y = prices
    else:
        r = returns(prices, log=spec.log, periods=spec.horizon)
        y = r if spec.kind == "return" else (r > 0).astype(float).where(r.notna())
    return y.rename("target")


def build_features(
    df: pd.DataFrame,
    features: tuple[str, ...] | list[str],
    column: str | None = None,
    *,
    log: bool = True,
) -> pd.DataFrame:
    """Input features, one column each, row t computed from information up to and including t.

    ``return``: one-step return of the price; ``price``: the level; ``abs_return``,
    ``squared_return``; ``log_range``: log(high/low); ``log_volume_change``: diff of log volume.
    Leading rows that are NaN by construction (the first return) stay NaN; callers drop them.
    """
    if not features:
        raise ConfigError("features is empty; give at least one, e.g. ('return',)")
    prices = price_series(df, column)
    out: dict[str, pd.Series] = {}
    r: pd.Series | None = None
    for name in features:
        if name not in FEATURES:
            raise ConfigError(f"feature {name!r} is unknown; choose from {', '.join(FEATURES)}")
        if name in ("return", "abs_return", "squared_return") and r is None:
            r = returns(prices, log=log)
        if name == "return":
            out[name] = r  # type: ignore[assignment]
        elif name == "price":
            out[name] = prices
        elif name == "abs_return":
            out[name] = r.abs()  # type: ignore[union-attr]
        elif name == "squared_return":
            out[name] = r**2  # type: ignore[operator]
        elif name == "log_range":
            for c in ("high", "low"):
                resolve_column(df, c)
            out[name] = pd.Series(
                np.log(df["high"].to_numpy(float) / df["low"].to_numpy(float)), index=df.index
            )
        elif name == "log_volume_change":
            resolve_column(df, "volume")
            vol = df["volume"].astype(float).where(df["volume"] > 0)
            out[name] = pd.Series(np.log(vol.to_numpy()), index=df.index).diff()
    return pd.DataFrame(out, index=df.index)

"""Variance targets: percent returns, the squared-return and Parkinson range proxies, and their scale."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import price_series, returns
from gatecast.data.sources import resolve_column
from gatecast.errors import ConfigError, DataError

PROXIES = ("squared", "parkinson")
PARKINSON_FACTOR = 1.0 / (4.0 * np.log(2.0))


@dataclass(frozen=True)
class VarianceTarget:
    """Next-day variance of the percent return (100 x log difference), measured by ``proxy``:

    ``squared``: the squared return r_t^2; ``parkinson``: the Parkinson range
    ln(H_t/L_t)^2 / (4 ln 2) (x 100^2), its level mapped to the squared return by a constant
    fit on training rows only (the range misses the overnight move, so it is ~30% too low).
    """

    proxy: str = "squared"
    horizon: int = 1
    kind: str = "variance"

    def __post_init__(self) -> None:
        if self.proxy not in PROXIES:
            raise ConfigError(
                f"proxy {self.proxy!r} is unknown; choose one of {', '.join(PROXIES)}"
            )
        if self.horizon != 1:
            raise ConfigError(f"horizon={self.horizon}: variance targets are one day ahead only")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_variance_target(target: VarianceTarget | str | None) -> VarianceTarget:
    """Accept a VarianceTarget or a proxy name (``squared`` / ``parkinson``)."""
    if isinstance(target, VarianceTarget):
        return target
    return VarianceTarget(proxy=target or "squared")


def percent_returns(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """Returns in percent, 100 x diff(log price), stamped with the later date (first row NaN)."""
    return (100.0 * returns(price_series(df, column), log=True)).rename("return")


def parkinson(df: pd.DataFrame) -> pd.Series:
    """The Parkinson (1980) variance of day t in percent^2: 100^2 ln(H_t/L_t)^2 / (4 ln 2)."""
    for c in ("high", "low"):
        resolve_column(df, c)
    hl = pd.Series(np.log(df["high"].astype(float) / df["low"].astype(float)), index=df.index)
    if (hl < 0).any():
        first = hl.index[int(np.argmax((hl < 0).to_numpy()))]
        raise DataError(
            f"high < low on {first}; the Parkinson range needs high >= low: clean the data"
        )
    return (1e4 * PARKINSON_FACTOR * hl**2).rename("parkinson")


def parkinson_scale(history: pd.DataFrame, column: str | None = None) -> float:
    """The constant c that maps the Parkinson range to the squared-return level on ``history``:
    c = sum(r_t^2) / sum(PK_t) over the rows where both exist. Fit it on training rows only."""
    r2 = percent_returns(history, column) ** 2
    pk = parkinson(history)
    ok = r2.notna() & pk.notna()
    if ok.sum() < 2 or pk[ok].sum() <= 0:
        raise DataError("too few rows with a positive high-low range to map the Parkinson proxy")
    return float(r2[ok].sum() / pk[ok].sum())


def variance_proxy(
    df: pd.DataFrame,
    proxy: str = "squared",
    *,
    scale: float | None = None,
    column: str | None = None,
) -> pd.Series:
    """The realised-variance proxy for each date t (percent^2).

    ``squared``: r_t^2. ``parkinson``: ``scale`` x PK_t, with ``scale`` from :func:`parkinson_scale`
    on training rows (required: fitting it here would use the very rows being evaluated).
    """
    as_variance_target(proxy)
    if proxy == "squared":
        return (percent_returns(df, column) ** 2).rename("proxy")
    if scale is None:
        raise ConfigError("the Parkinson proxy needs scale=parkinson_scale(training rows)")
    return (scale * parkinson(df)).rename("proxy")

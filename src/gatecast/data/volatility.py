"""Variance targets: percent returns, the squared-return and Parkinson range proxies, and their scale."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from gatecast.data.features import PARKINSON_FACTOR, parkinson, price_series, returns
from gatecast.errors import ConfigError, DataError
from gatecast.types import PROXIES

__all__ = [
    "PARKINSON_FACTOR",
    "PROXIES",
    "QLIKE_FLOOR",
    "SHRINK_WEIGHT",
    "VarianceTarget",
    "as_variance_target",
    "parkinson",
    "parkinson_scale",
    "percent_returns",
    "shrunk_proxy",
    "variance_proxy",
]

#: Squared percent returns below this are raised to it inside QLIKE: a day with a zero return
#: (2017-01-10 on the S&P 500) would otherwise give an infinite loss. 1e-8 %^2 is a move of
#: 1e-4 % (about 0.002 index points); the reference numbers use the same floor.
QLIKE_FLOOR = 1e-8
#: The weight of the day's squared return in :func:`shrunk_proxy` (the rest goes to the prior
#: forecast): selected for close-only residual hybrids on 2001-2004 only, before any reported
#: test block (``bench/hybrid_close_selection.py``, docs/close-only.md).
SHRINK_WEIGHT = 0.5


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


def as_variance_target(target: VarianceTarget | str | dict[str, Any] | None) -> VarianceTarget:
    """Accept a VarianceTarget, its dict form, or a proxy name (``squared`` / ``parkinson``)."""
    if isinstance(target, VarianceTarget):
        return target
    if isinstance(target, dict):  # the form to_dict() writes
        return VarianceTarget(**target)
    return VarianceTarget(proxy=target or "squared")


def percent_returns(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """Returns in percent, 100 x diff(log price), stamped with the later date (first row NaN)."""
    pct: pd.Series = (100.0 * returns(price_series(df, column), log=True)).rename("return")
    return pct


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
    out: pd.Series
    if proxy == "squared":
        out = (percent_returns(df, column) ** 2).rename("proxy")
        return out
    if scale is None:
        raise ConfigError("the Parkinson proxy needs scale=parkinson_scale(training rows)")
    out = (scale * parkinson(df)).rename("proxy")
    return out


def shrunk_proxy(squared: pd.Series, prior: pd.Series, weight: float = SHRINK_WEIGHT) -> pd.Series:
    """The day's squared return shrunk toward a forecast of its variance made the day before:
    ``weight * r_t^2 + (1 - weight) * prior_t``.

    A posterior mean of day t's variance with ``prior_t`` as the prior (for an inverse-gamma
    prior the weight of r_t^2 is 1 / (2 alpha - 1)): less noisy than r_t^2 alone, as the Parkinson
    range is, but from closes only. It reads day t's own return and ``prior_t``, which must be
    a forecast for t from data up to t - 1 (e.g. a classical model's forecast by origin shifted
    one row, with parameters fit on training rows only); nothing after t.

    Parameters
    ----------
    squared
        r_t^2 in percent^2, by date.
    prior
        The forecast for each date, aligned with ``squared`` (NaN where there is none).
    weight
        The share of r_t^2, in (0, 1]; 1 gives ``squared`` back.
    """
    if not 0 < weight <= 1:
        raise ConfigError(f"weight={weight}: the share of the squared return must be in (0, 1]")
    if not squared.index.equals(prior.index):
        raise ConfigError("the squared returns and the prior forecasts must share one index")
    out: pd.Series = (weight * squared + (1.0 - weight) * prior).rename("proxy")
    return out

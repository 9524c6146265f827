"""Simple variance forecasters: the historical variance over a trailing window or the training mean."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gatecast.data.volatility import (
    VarianceTarget,
    as_variance_target,
    parkinson_scale,
    percent_returns,
    variance_proxy,
)
from gatecast.errors import ConfigError
from gatecast.models.base import OnVarianceTarget, clip_dates, refuse_y, require_fitted
from gatecast.types import Proxy


def training_proxy(history: pd.DataFrame, target: VarianceTarget, column: str | None) -> pd.Series:
    """The target's proxy on the training rows, its Parkinson scale (if any) fit on those rows."""
    scale = parkinson_scale(history, column) if target.proxy == "parkinson" else None
    return variance_proxy(history, target.proxy, scale=scale, column=column).dropna()


class HistoricalVariance(OnVarianceTarget):
    """The variance forecast as an average of past squared returns.

    ``window=k``: the mean of r^2 over the k days before t (the random walk on the monthly
    variance with k=22, the ``no_change`` of a variance target). ``window=None``: the mean of
    the training proxy, fixed at ``fit`` (the variance ``historical_mean`` baseline).
    """

    fitted_attr = "mean_"

    def __init__(
        self,
        window: int | None = 22,
        target: VarianceTarget | Proxy = "squared",
        column: str | None = None,
        name: str | None = None,
    ) -> None:
        if window is not None and window < 1:
            raise ConfigError(f"window={window}: must be >= 1 (or None for the training mean)")
        self.window = window
        as_variance_target(target)  # fail fast on a bad target; it is stored as given
        self.target = target
        self.column = column
        self.name = name or (f"hv{window}" if window else "historical_mean")
        self.mean_: float | None = None

    def fit(self, history: pd.DataFrame, y: None = None) -> HistoricalVariance:
        refuse_y(self, y)
        self.mean_ = float(training_proxy(history, self.target_spec, self.column).mean())
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "mean_")
        r2 = percent_returns(data, self.column) ** 2
        if self.window is None:
            fc = pd.Series(self.mean_, index=data.index).where(r2.shift(1).notna())
        else:
            fc = r2.rolling(self.window).mean().shift(1)
        fc = fc.dropna()
        return clip_dates(fc[fc > 0].rename(self.name).astype(float), start, end)

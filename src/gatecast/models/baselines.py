"""Baselines every report shows beside a recurrent model: no-change and the historical mean."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.models.base import as_target, clip_dates, require_fitted
from gatecast.types import TargetKind


class NoChange:
    """The random-walk forecast: tomorrow's price is today's, so the forecast return is zero.

    price: P_{t-h}; return: 0; direction: the sign of the last observed return (persistence).
    """

    name = "no_change"

    def __init__(
        self, target: TargetSpec | TargetKind = "return", column: str | None = None
    ) -> None:
        as_target(target)  # fail fast on a bad target; it is stored as given
        self.target = target
        self.column = column
        self.fitted_ = False

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given."""
        return {"target": self.target, "column": self.column}

    @property
    def target_spec(self) -> TargetSpec:
        """The target as a :class:`TargetSpec` (``target`` keeps what was given)."""
        return as_target(self.target)

    def fit(self, history: pd.DataFrame) -> NoChange:
        self.fitted_ = True
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        h = self.target_spec.horizon
        if self.target_spec.kind == "price":
            fc = price_series(data, self.column).shift(h)
        elif self.target_spec.kind == "return":
            fc = pd.Series(0.0, index=data.index).where(
                price_series(data, self.column).shift(h).notna()
            )
        else:
            last = make_target(data, TargetSpec("direction", self.target_spec.log, h), self.column)
            fc = last.shift(h)
        return clip_dates(fc.dropna().rename(self.name), start, end)


class HistoricalMean:
    """The training mean of the target, forecast for every date (the benchmark of OOS R^2)."""

    name = "historical_mean"

    def __init__(
        self, target: TargetSpec | TargetKind = "return", column: str | None = None
    ) -> None:
        as_target(target)  # fail fast on a bad target; it is stored as given
        self.target = target
        self.column = column
        self.mean_: float | None = None

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given."""
        return {"target": self.target, "column": self.column}

    @property
    def target_spec(self) -> TargetSpec:
        """The target as a :class:`TargetSpec` (``target`` keeps what was given)."""
        return as_target(self.target)

    def fit(self, history: pd.DataFrame) -> HistoricalMean:
        y = make_target(history, self.target_spec, self.column).to_numpy()
        self.mean_ = float(np.nanmean(y))
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "mean_")
        h = self.target_spec.horizon
        ok = price_series(data, self.column).shift(h).notna()
        fc = pd.Series(self.mean_, index=data.index)[ok]
        return clip_dates(fc.rename(self.name), start, end)

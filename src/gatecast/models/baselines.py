"""Baselines shown beside every recurrent model: no-change, the historical mean and always up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.models.base import OnTarget, clip_dates, refuse_y, require_fitted
from gatecast.types import TargetKind

_Unlearned = TypeVar("_Unlearned", bound="_NothingToLearn")


class _NothingToLearn(OnTarget):
    """A baseline that learns nothing: ``fit`` only marks it fitted."""

    fitted_attr = "fitted_"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fitted_ = False

    def fit(self: _Unlearned, history: pd.DataFrame, y: None = None) -> _Unlearned:
        refuse_y(self, y)
        self.fitted_ = True
        return self


class NoChange(_NothingToLearn):
    """The random-walk forecast: tomorrow's price is today's, so the forecast return is zero.

    price: P_{t-h}; return: 0; direction: the sign of the last observed return (persistence).
    """

    name = "no_change"

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


class HistoricalMean(OnTarget):
    """The training mean of the target, forecast for every date (the benchmark of OOS R^2)."""

    name = "historical_mean"
    fitted_attr = "mean_"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.mean_: float | None = None

    def fit(self, history: pd.DataFrame, y: None = None) -> HistoricalMean:
        refuse_y(self, y)
        target = make_target(history, self.target_spec, self.column).to_numpy()
        self.mean_ = float(np.nanmean(target))
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "mean_")
        h = self.target_spec.horizon
        ok = price_series(data, self.column).shift(h).notna()
        fc = pd.Series(self.mean_, index=data.index)[ok]
        return clip_dates(fc.rename(self.name), start, end)


@dataclass(eq=False, repr=False)
class AlwaysUp(_NothingToLearn):
    """Direction baseline: the probability of an up day is 1 (the market's drift, nothing more)."""

    name = "always_up"

    target: TargetSpec | TargetKind = "direction"

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        ok = (
            make_target(data, TargetSpec("direction", self.target_spec.log), self.column)
            .shift(1)
            .notna()
        )
        fc = pd.Series(1.0, index=data.index)[ok.to_numpy()]
        return clip_dates(fc.rename(self.name), start, end)

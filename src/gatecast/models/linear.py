"""The linear return baseline: AR(1) on returns (statsmodels), for return and direction targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import AutoReg

from gatecast.data.features import TargetSpec, price_series, returns
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.models.base import OnTarget, as_target, clip_dates, refuse_y, require_fitted
from gatecast.models.baselines import AlwaysUp
from gatecast.types import TargetKind

__all__ = ["AR1", "AlwaysUp"]  # AlwaysUp, a trivial baseline, lives in models.baselines


class AR1(OnTarget):
    """r_t = c + phi r_{t-1} + e_t by OLS (``statsmodels`` AutoReg), coefficients fixed at ``fit``.

    ``return`` target: the forecast c + phi r_{t-1}. ``direction``: 1.0 if that forecast is > 0,
    else 0.0 (a hard call: it scores a hit rate, not a calibrated probability).
    """

    name = "ar1"

    def __init__(
        self, target: TargetSpec | TargetKind = "return", column: str | None = None
    ) -> None:
        spec = as_target(target)
        if spec.kind == "price" or spec.horizon != 1:
            raise ConfigError(
                f"target {spec.kind!r} with horizon {spec.horizon}: AR1 forecasts one-step returns "
                f"or directions; use target='return' or 'direction'"
            )
        super().__init__(target, column)
        self.params_: np.ndarray | None = None

    def fit(self, history: pd.DataFrame, y: None = None) -> AR1:
        refuse_y(self, y)
        r = returns(price_series(history, self.column), log=self.target_spec.log).dropna()
        if len(r) < 20:
            raise TooFewRowsError(f"{len(r)} returns are too few to fit an AR(1); need at least 20")
        self.params_ = np.asarray(AutoReg(r.to_numpy(), lags=1, trend="c").fit().params)
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "params_")
        assert self.params_ is not None
        r = returns(price_series(data, self.column), log=self.target_spec.log)
        fc = (self.params_[0] + self.params_[1] * r.shift(1)).dropna()
        if self.target_spec.kind == "direction":
            fc = (fc > 0).astype(float)
        return clip_dates(fc.rename(self.name), start, end)

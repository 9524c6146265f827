"""The linear return baselines: AR(1) on returns (statsmodels), for return and direction targets,
and ARX, the AR(1) with covariates as further regressors (the return and direction baseline that
reads what a recurrent model with covariates reads)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import AutoReg

from gatecast.data.features import TargetSpec, price_series, returns
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.inference.pipeline import check_covariates
from gatecast.models.base import OnTarget, as_target, clip_dates, refuse_y, require_fitted
from gatecast.models.baselines import AlwaysUp
from gatecast.types import TargetKind

__all__ = ["AR1", "ARX", "AlwaysUp"]  # AlwaysUp, a trivial baseline, lives in models.baselines


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


class ARX(OnTarget):
    """ARX: r_t = c + phi r_{t-1} + sum_j b_j x_{j,t-1} + e_t, fit by OLS on the rows of
    ``fit`` (the training rows), coefficients fixed until the next fit; the forecast of the
    one-step return.

    ``covariates`` are columns of the data whose row t holds what is known at t's close (an
    index's return and log range, the log VIX:
    :func:`gatecast.data.covariates.join_covariates`), so the forecast for t reads row t - 1 of
    each: the information a recurrent model with those covariates reads, which makes the two
    comparable (a gain of the network over ARX is not the covariates'). Rows where the lagged
    return or a lagged covariate is missing are left out of the fit. With no covariates it is
    the AR(1) of :class:`AR1` (the same OLS; its forecasts equal ``ar1``'s). A ``direction``
    target makes the same hard call as :class:`AR1`'s: 1.0 if the return forecast is > 0, else
    0.0 (the same OLS on the returns).

    Parameters
    ----------
    covariates
        Column names of the data, e.g. ``("sp500_return", "sp500_log_range")``.
    target
        ``return`` (one step; log or simple as the spec says) or ``direction`` (its sign).
    column
        The price column; default the data's preferred one.
    name
        The forecast's name (default ``arx``).
    """

    def __init__(
        self,
        covariates: tuple[str, ...] | list[str] = (),
        target: TargetSpec | TargetKind = "return",
        column: str | None = None,
        name: str | None = None,
    ) -> None:
        spec = as_target(target)
        if spec.kind not in ("return", "direction") or spec.horizon != 1:
            raise ConfigError(
                f"target {spec.kind!r} with horizon {spec.horizon}: ARX forecasts the one-step "
                f"return or its direction; use target='return' or 'direction'"
            )
        if isinstance(covariates, str) or not all(isinstance(c, str) and c for c in covariates):
            raise ConfigError(
                f"covariates={covariates!r}: give column names, e.g. ('sp500_return',)"
            )
        if len(set(covariates)) != len(covariates):
            raise ConfigError(f"covariates={list(covariates)} lists a column twice")
        super().__init__(target, column)
        self.covariates = covariates
        self.name = name or "arx"
        self.params_: np.ndarray | None = None

    def design(self, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The regressors of the forecast for each row (``const``, ``r_lag``, ``x_<column>``:
        the return and the covariates of the row before) and the return of each row."""
        check_covariates(data, self.covariates)
        r = returns(price_series(data, self.column), log=self.target_spec.log)
        X = pd.DataFrame({"const": 1.0, "r_lag": r.shift(1)}, index=data.index)
        for c in self.covariates:
            # row t of a covariate is known at t's close: a regressor of the forecast for t + 1
            X[f"x_{c}"] = data[c].astype(float).shift(1)
        return X, r

    def fit(self, history: pd.DataFrame, y: None = None) -> ARX:
        refuse_y(self, y)
        X, r = self.design(history)
        ok = (X.notna().all(axis=1) & r.notna()).to_numpy()
        need = max(20, 10 * X.shape[1])
        if ok.sum() < need:
            raise TooFewRowsError(
                f"{int(ok.sum())} usable rows are too few to fit an ARX with "
                f"{len(self.covariates)} covariate(s); need at least {need}"
            )
        coef, *_ = np.linalg.lstsq(X.to_numpy()[ok], r.to_numpy()[ok], rcond=None)
        self.params_ = np.asarray(coef, dtype=float)
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "params_")
        assert self.params_ is not None
        X, _ = self.design(data)
        X = X.dropna()
        fc = pd.Series(X.to_numpy() @ self.params_, index=X.index, name=self.name)
        if self.target_spec.kind == "direction":
            fc = (fc > 0).astype(float)
        return clip_dates(fc, start, end)

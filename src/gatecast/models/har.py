"""HAR (Corsi 2009) on the log Parkinson range: OLS of log PK_t on its daily, weekly, monthly averages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from gatecast.data.volatility import VarianceTarget, as_variance_target, parkinson
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.models.base import clip_dates, require_fitted
from gatecast.models.volatility import training_proxy
from gatecast.types import Proxy


class HARForecaster:
    """log PK_t = b0 + sum_k b_k mean(log PK_{t-k..t-1}) + e_t, fit by OLS (statsmodels).

    The forecast exp(fitted) is put on the target's scale by one constant fit on the training rows:
    mean(training proxy) / mean(exp(in-sample fit)) (this also absorbs the log-normal bias and
    the Parkinson range's missing overnight move). ``lags=(1,)`` is an AR(1) on the log range.

    Parameters
    ----------
    lags
        Averaging windows in days; (1, 5, 22) is the daily, weekly and monthly HAR.
    """

    def __init__(
        self,
        lags: tuple[int, ...] = (1, 5, 22),
        target: VarianceTarget | Proxy = "squared",
        column: str | None = None,
        name: str | None = None,
    ) -> None:
        if not lags or any(int(k) < 1 for k in lags):
            raise ConfigError(f"lags={lags}: give one or more windows >= 1, e.g. (1, 5, 22)")
        as_variance_target(target)  # fail fast on a bad target; it is stored as given
        self.lags = lags
        self.target = target
        self.column = column
        self.name = name or "har"
        self.params_: np.ndarray | None = None
        self.level_: float | None = None

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given (``name`` with its default filled in)."""
        return {"lags": self.lags, "target": self.target, "column": self.column, "name": self.name}

    @property
    def target_spec(self) -> VarianceTarget:
        """The target as a :class:`VarianceTarget` (``target`` keeps what was given)."""
        return as_variance_target(self.target)

    @property
    def _lags(self) -> tuple[int, ...]:
        return tuple(int(k) for k in self.lags)

    def _design(self, data: pd.DataFrame, *, lag: int = 1) -> tuple[pd.DataFrame, pd.Series]:
        pk = parkinson(data)
        if (pk <= 0).any():
            day = pk.index[int(np.argmax((pk <= 0).to_numpy()))]
            raise ConfigError(
                f"high == low on {day}: the log range is -inf; HAR needs a positive range"
            )
        lpk = np.log(pk)
        # row t holds averages over t-k .. t-1 only: the regressors of a forecast for t
        # (lag=0: averages up to t itself, the regressors of the forecast made at t's close)
        X = pd.DataFrame({f"avg{k}": lpk.rolling(k).mean().shift(lag) for k in self._lags})
        X.insert(0, "const", 1.0)
        return X, lpk

    def fit(self, history: pd.DataFrame) -> HARForecaster:
        X, y = self._design(history)
        ok = X.notna().all(axis=1) & y.notna()
        if ok.sum() < 10 * X.shape[1]:
            raise TooFewRowsError(
                f"{int(ok.sum())} usable rows are too few for a HAR with lags {self.lags}; "
                f"need at least {10 * X.shape[1]}"
            )
        res = sm.OLS(y[ok].to_numpy(), X[ok].to_numpy()).fit()
        self.params_ = np.asarray(res.params)
        proxy = training_proxy(history, self.target_spec, self.column)
        fitted = pd.Series(np.exp(res.fittedvalues), index=y.index[ok.to_numpy()])
        both = fitted.index.intersection(proxy.index)
        self.level_ = float(proxy[both].mean() / fitted[both].mean())
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "params_")
        assert self.params_ is not None and self.level_ is not None
        X, _ = self._design(data)
        X = X.dropna()
        keep = clip_dates(pd.Series(np.arange(len(X)), index=X.index), start, end).to_numpy()
        fc = self.level_ * np.exp(X.to_numpy()[keep] @ self.params_)
        out: pd.Series = pd.Series(fc, index=X.index[keep], name=self.name)
        return out

    def forecast_by_origin(self, data: pd.DataFrame) -> pd.Series:
        """The forecast made at the close of each day: the row of day s holds the forecast for
        the day after s, from ranges up to s and the coefficients of ``fit`` (NaN until the
        longest average is full)."""
        require_fitted(self, "params_")
        assert self.params_ is not None and self.level_ is not None
        X, _ = self._design(data, lag=0)
        out: pd.Series = pd.Series(
            self.level_ * np.exp(X.to_numpy() @ self.params_), index=X.index, name=self.name
        )
        return out

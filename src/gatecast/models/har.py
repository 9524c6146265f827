"""HAR (Corsi 2009): OLS of a daily realised measure on its daily, weekly and monthly averages, on
the log Parkinson range (with High/Low) or on absolute returns (closes only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import numpy as np
import pandas as pd
import statsmodels.api as sm

from gatecast.data.features import parkinson
from gatecast.data.volatility import VarianceTarget, as_variance_target, percent_returns
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.inference.classical import HarRecursion
from gatecast.inference.pipeline import check_covariates
from gatecast.models.base import ParamsFromSignature, clip_dates, refuse_y, require_fitted
from gatecast.models.volatility import training_proxy
from gatecast.types import Proxy

#: ``range``: the log Parkinson range (needs High/Low); ``abs``: the absolute percent return
#: (closes only); ``auto``: the range when the data has High/Low, else absolute returns.
HarMeasure = Literal["auto", "range", "abs"]
HAR_MEASURES: tuple[HarMeasure, ...] = get_args(HarMeasure)
#: The absolute-return forecast is floored at this share of the training mean |r| before it is
#: squared: an OLS fit in levels can go below zero, a variance may not.
ABS_FLOOR_SHARE = 0.01


def has_range(data: pd.DataFrame) -> bool:
    """Whether ``data`` has High and Low columns (what the range HAR reads)."""
    return {"high", "low"} <= set(data.columns)


@dataclass(eq=False, repr=False)
class HARForecaster(ParamsFromSignature):
    """m_t = b0 + sum_k b_k mean(m_{t-k..t-1}) + e_t, fit by OLS (statsmodels), for a daily
    realised measure m.

    ``measure="range"``: m = log Parkinson range (Corsi's HAR on a range-based realised
    variance); the forecast is ``level`` exp(fit). ``measure="abs"``: m = |r_t|, the absolute
    percent return, the realised measure a file of closes has (Forsberg and Ghysels 2007: less
    noisy than r^2, no log of a zero return); the forecast is ``level`` max(fit, floor)^2.
    ``level`` is one constant fit on the training rows, mean(training proxy) / mean(forecast
    before scaling) (this absorbs the log-normal bias, E|r|^2 < E r^2, and the range's missing
    overnight move). ``measure="auto"`` (default) picks the range when the data has High/Low
    and absolute returns otherwise; ``measure_`` says which a fit used. ``lags=(1,)`` is an
    AR(1) on the measure.

    Parameters
    ----------
    lags
        Averaging windows in days; (1, 5, 22) is the daily, weekly and monthly HAR.
    target
        The proxy the forecast's level is matched to (``squared`` or ``parkinson``).
    column
        The price column (absolute returns); default the data's preferred one.
    name
        The forecast's name.
    measure
        ``auto``, ``range`` or ``abs`` (see above).

    The parameters are the dataclass fields (the constructor stores them as given but
    ``name``, which defaults to ``default_name``); ``eq=False, repr=False``: models compare
    by identity.
    """

    #: ``name`` when none is given.
    default_name: ClassVar[str] = "har"

    lags: tuple[int, ...] = (1, 5, 22)
    target: VarianceTarget | Proxy = "squared"
    column: str | None = None
    name: str | None = None
    measure: HarMeasure = "auto"

    def __post_init__(self) -> None:
        # a bare number (lags=5) or a non-integer window is refused here, not by a TypeError inside
        lags = self.lags
        if (
            not isinstance(lags, (tuple, list))
            or not lags
            or any(
                isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in lags
            )
        ):
            raise ConfigError(f"lags={lags}: give one or more windows >= 1, e.g. (1, 5, 22)")
        if self.measure not in HAR_MEASURES:
            raise ConfigError(
                f"measure {self.measure!r} is unknown; choose one of {', '.join(HAR_MEASURES)}"
            )
        as_variance_target(self.target)  # fail fast on a bad target; it is stored as given
        self.name = self.name or self.default_name
        self.params_: np.ndarray | None = None
        self.level_: float | None = None
        self.measure_: str | None = None
        self.floor_: float = 0.0

    @property
    def target_spec(self) -> VarianceTarget:
        """The target as a :class:`VarianceTarget` (``target`` keeps what was given)."""
        return as_variance_target(self.target)

    @property
    def _lags(self) -> tuple[int, ...]:
        return tuple(int(k) for k in self.lags)

    def measure_for(self, data: pd.DataFrame) -> str:
        """The measure a fit on ``data`` uses (``auto`` resolved)."""
        if self.measure != "auto":
            return self.measure
        return "range" if has_range(data) else "abs"

    def _measure(self, data: pd.DataFrame, measure: str) -> pd.Series:
        if measure == "abs":
            out: pd.Series = percent_returns(data, self.column).abs()
            return out
        pk = parkinson(data)
        if (pk <= 0).any():
            day = pk.index[int(np.argmax((pk <= 0).to_numpy()))]
            raise ConfigError(
                f"high == low on {day}: the log range is -inf; HAR needs a positive range"
            )
        lpk: pd.Series = np.log(pk)
        return lpk

    def _design(
        self, data: pd.DataFrame, measure: str, *, lag: int = 1
    ) -> tuple[pd.DataFrame, pd.Series]:
        m = self._measure(data, measure)
        # row t holds averages over t-k .. t-1 only: the regressors of a forecast for t
        # (lag=0: averages up to t itself, the regressors of the forecast made at t's close)
        X = pd.DataFrame({f"avg{k}": m.rolling(k).mean().shift(lag) for k in self._lags})
        X.insert(0, "const", 1.0)
        return X, m

    def _variance(self, fit: np.ndarray) -> np.ndarray:
        """The forecast before its level: exp(fit) on the log range, max(fit, floor)^2 on |r|."""
        if self.measure_ == "abs":
            out: np.ndarray = np.maximum(fit, self.floor_) ** 2
        else:
            out = np.exp(fit)
        return out

    def fit(self, history: pd.DataFrame, y: None = None) -> HARForecaster:
        refuse_y(self, y)
        measure = self.measure_for(history)
        X, m = self._design(history, measure)
        ok = X.notna().all(axis=1) & m.notna()
        if ok.sum() < 10 * X.shape[1]:
            raise TooFewRowsError(
                f"{int(ok.sum())} usable rows are too few for a HAR with lags {self.lags}; "
                f"need at least {10 * X.shape[1]}"
            )
        res = sm.OLS(m[ok].to_numpy(), X[ok].to_numpy()).fit()
        self.params_ = np.asarray(res.params)
        self.measure_ = measure
        self.floor_ = ABS_FLOOR_SHARE * float(m[ok].mean()) if measure == "abs" else 0.0
        proxy = training_proxy(history, self.target_spec, self.column)
        fitted = pd.Series(
            self._variance(np.asarray(res.fittedvalues)), index=m.index[ok.to_numpy()]
        )
        both = fitted.index.intersection(proxy.index)
        self.level_ = float(proxy[both].mean() / fitted[both].mean())
        return self

    def _fitted(self) -> tuple[np.ndarray, float, str]:
        require_fitted(self, "params_")
        assert self.params_ is not None and self.level_ is not None and self.measure_
        return self.params_, self.level_, self.measure_

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        params, level, measure = self._fitted()
        X, _ = self._design(data, measure)
        X = X.dropna()
        keep = clip_dates(pd.Series(np.arange(len(X)), index=X.index), start, end).to_numpy()
        fc = level * self._variance(X.to_numpy()[keep] @ params)
        out: pd.Series = pd.Series(fc, index=X.index[keep], name=self.name)
        return out

    def forecast_by_origin(self, data: pd.DataFrame) -> pd.Series:
        """The forecast made at the close of each day: the row of day s holds the forecast for
        the day after s, from measures up to s and the coefficients of ``fit`` (NaN until the
        longest average is full)."""
        params, level, measure = self._fitted()
        X, _ = self._design(data, measure, lag=0)
        out: pd.Series = pd.Series(
            level * self._variance(X.to_numpy() @ params), index=X.index, name=self.name
        )
        return out

    def recursion(self, name: str | None = None) -> HarRecursion:
        """The fitted model as a frozen recursion a stream can run tick by tick (see
        :mod:`gatecast.inference.classical`)."""
        params, level, measure = self._fitted()
        return HarRecursion(
            name=name or str(self.name),  # never None after __post_init__
            measure=measure,
            lags=self._lags,
            coef=tuple(float(b) for b in params),
            level=level,
            floor=self.floor_,
        )


@dataclass(eq=False, repr=False)
class HARXForecaster(HARForecaster):
    """HAR-X: the HAR of :class:`HARForecaster` with covariates as further regressors,
    m_t = b0 + sum_k b_k mean(m_{t-k..t-1}) + sum_j c_j x_{j,t-1} + e_t, fit by OLS on the
    training rows.

    ``covariates`` are columns of the data whose row t holds what is known at t's close (the
    log VIX, another index's return and log range:
    :func:`gatecast.data.covariates.join_covariates`), so the forecast for t reads row t - 1:
    the same information the recurrent model with those covariates reads, which is what makes
    the two comparable. Other parameters as :class:`HARForecaster`.
    """

    default_name: ClassVar[str] = "har_x"
    covariates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.covariates, str) or not self.covariates:
            raise ConfigError(
                f"covariates={self.covariates!r}: HAR-X needs one or more covariate columns, "
                f"e.g. ('vix_log',); without any it is the HAR (har)"
            )

    def _design(
        self, data: pd.DataFrame, measure: str, *, lag: int = 1
    ) -> tuple[pd.DataFrame, pd.Series]:
        X, m = super()._design(data, measure, lag=lag)
        check_covariates(data, self.covariates)
        for c in self.covariates:
            # row t of the covariate is known at t's close: the regressor of the forecast for
            # the next row (lag=0: of the forecast made at t's close, by forecast_by_origin)
            X[f"x_{c}"] = data[c].astype(float).shift(lag)
        return X, m

    def recursion(self, name: str | None = None) -> HarRecursion:
        """Not available: a stream's ticks carry no covariates."""
        raise ConfigError(
            "HAR-X reads covariates, which a frozen recursion (a stream, a hybrid's input) "
            "does not carry; use HAR (har) there"
        )

"""GARCH-family variance forecasters from `arch`: GARCH(1,1), GJR-GARCH-t, EGARCH-t and EWMA.

Parameters are estimated at ``fit`` and held fixed by ``predict``: the forecast for day t runs the
variance recursion with those parameters over returns up to t - 1 (as ``arch``'s
``fit(last_obs=...)`` then ``forecast(start=...)`` does).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from arch import arch_model
from arch.univariate import EWMAVariance, ZeroMean
from arch.univariate.base import ARCHModel

from gatecast.data.volatility import VarianceTarget, as_variance_target, percent_returns
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.inference.classical import EgarchRecursion, GarchRecursion
from gatecast.models.base import OnVarianceTarget, clip_dates, refuse_y, require_fitted
from gatecast.types import Proxy

ArchVol = Literal["GARCH", "EGARCH", "EWMA"]
ArchDist = Literal["normal", "t", "skewt", "ged"]
ArchMean = Literal["Constant", "Zero"]
VOLS: tuple[ArchVol, ...] = get_args(ArchVol)


class ArchForecaster(OnVarianceTarget):
    """One-day variance of the percent return from an ``arch`` model, parameters fixed between fits.

    Parameters
    ----------
    vol
        ``GARCH`` (with ``o=1`` it is GJR-GARCH), ``EGARCH`` or ``EWMA`` (RiskMetrics, ``lam``).
    p, o, q
        Lag orders of the shocks, the asymmetric term and the variance.
    dist
        ``normal``, ``t``, ``skewt`` or ``ged``.
    mean
        Mean model: ``Constant`` or ``Zero`` (EWMA always uses a zero mean).
    lam
        EWMA smoothing parameter (0.94 for RiskMetrics daily data).

    Examples
    --------
    >>> gjr = ArchForecaster("GARCH", o=1, dist="t").fit(df.loc[:"2014"])  # doctest: +SKIP
    >>> gjr.predict(df, start="2015-01-02", end="2015-01-30")  # doctest: +SKIP
    """

    min_rows = 100

    def __init__(
        self,
        vol: ArchVol = "GARCH",
        p: int = 1,
        o: int = 0,
        q: int = 1,
        dist: ArchDist = "normal",
        mean: ArchMean = "Constant",
        lam: float = 0.94,
        target: VarianceTarget | Proxy = "squared",
        column: str | None = None,
        name: str | None = None,
    ) -> None:
        if vol not in VOLS:
            raise ConfigError(f"vol {vol!r} is unknown; choose one of {', '.join(VOLS)}")
        if vol == "EWMA" and not 0 < lam < 1:
            raise ConfigError(f"lam={lam}: the EWMA smoothing parameter must be in (0, 1)")
        self.vol, self.p, self.o, self.q = vol, p, o, q
        self.dist, self.mean, self.lam = dist, mean, lam
        as_variance_target(target)  # fail fast on a bad target; it is stored as given
        self.target = target
        self.column = column
        self.name = name or vol.lower()
        self.params_: pd.Series | None = None
        self.backcast_: float | None = None

    def _model(self, r: pd.Series) -> ARCHModel:
        if self.vol == "EWMA":
            return ZeroMean(r, volatility=EWMAVariance(self.lam), rescale=False)
        # arch types these as string literals; ours are checked in __init__
        names: dict[str, Any] = {"mean": self.mean, "vol": self.vol, "dist": self.dist}
        return arch_model(r, p=self.p, o=self.o, q=self.q, rescale=False, **names)

    def fit(self, history: pd.DataFrame, y: None = None) -> ArchForecaster:
        refuse_y(self, y)
        r = percent_returns(history, self.column).dropna()
        if len(r) < self.min_rows:
            raise TooFewRowsError(
                f"{len(r)} returns are too few to estimate {self.name}; need at least {self.min_rows}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; a failed fit shows in the loss
            model = self._model(r)
            res = model.fit(disp="off", show_warning=False)
        self.params_ = res.params
        # what starts arch's recursion on these rows (a weighted mean of the first squared
        # residuals; its log for EGARCH): kept so a stream can start the same way
        resid = r.to_numpy() - float(res.params.get("mu", 0.0))
        self.backcast_ = float(model.volatility.backcast(resid))
        return self

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        require_fitted(self, "params_")
        r = percent_returns(data, self.column).dropna()
        if len(r) < 2:
            return pd.Series([], dtype=float, name=self.name)
        # The row of origin s holds the forecast for the next row: shift it onto the date it is for.
        first = 0
        if start is not None:
            first = max(int(r.index.searchsorted(pd.Timestamp(start))) - 1, 0)
        assert self.params_ is not None
        fc = self._model(r).forecast(self.params_, horizon=1, start=r.index[first], reindex=False)
        origin = fc.variance.iloc[:, 0]
        pos = r.index.get_indexer(origin.index) + 1
        keep = pos < len(r)
        out = pd.Series(np.asarray(origin)[keep], index=r.index[pos[keep]], name=self.name)
        return clip_dates(out, start, end)

    def forecast_by_origin(self, data: pd.DataFrame) -> pd.Series:
        """The forecast made at the close of each day: the row of day s holds the variance
        forecast for the day after s, from returns up to s and the parameters of ``fit`` (the
        first row, with no return, is left out)."""
        require_fitted(self, "params_")
        assert self.params_ is not None
        r = percent_returns(data, self.column).dropna()
        fc = self._model(r).forecast(self.params_, horizon=1, start=r.index[0], reindex=False)
        out: pd.Series = pd.Series(fc.variance.iloc[:, 0].to_numpy(), index=r.index, name=self.name)
        return out

    def recursion(self, name: str | None = None) -> GarchRecursion | EgarchRecursion:
        """The fitted model as a frozen recursion a stream can run tick by tick, started from
        the backcast of the training returns (see :mod:`gatecast.inference.classical`); GARCH and
        GJR-GARCH (1, 1) and EGARCH(1, 1, 1) only."""
        require_fitted(self, "params_")
        assert self.params_ is not None and self.backcast_ is not None
        if self.vol == "EWMA" or (self.p, self.q) != (1, 1) or self.o not in (0, 1):
            raise ConfigError(
                f"{self.name}: only GARCH/GJR-GARCH(1, 1) and EGARCH(1, 1, 1) run as a stream "
                f"recursion; got {self.vol}({self.p}, {self.o}, {self.q})"
            )
        p = self.params_
        mu = float(p.get("mu", 0.0))
        gamma = float(p["gamma[1]"]) if self.o == 1 else 0.0
        args = (float(p["omega"]), float(p["alpha[1]"]), gamma, float(p["beta[1]"]))
        if self.vol == "EGARCH":
            return EgarchRecursion(name or self.name, mu, *args, log_backcast=self.backcast_)
        return GarchRecursion(name or self.name, mu, *args, backcast=self.backcast_)

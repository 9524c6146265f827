"""Variance baselines (GARCH family, EWMA, HAR, historical variance) and AR(1): shapes, positivity and
no look-ahead (changing day t's data leaves the forecast for t unchanged)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.volatility import parkinson, parkinson_scale, percent_returns, variance_proxy
from gatecast.errors import ConfigError
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.linear import AR1, AlwaysUp
from gatecast.models.volatility import HistoricalVariance


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2010":"2015-03"]


def shocked(df: pd.DataFrame, day: str, factor: float = 0.6) -> pd.DataFrame:
    """The frame with every price from ``day`` on multiplied by ``factor`` (and day's range widened)."""
    out = df.copy()
    out.loc[day:, ["open", "high", "low", "close", "adj_close"]] *= factor
    out.loc[day, "high"] *= 1.05
    return out


def assert_no_look_ahead(model, df: pd.DataFrame, day: str, nxt: str) -> None:
    model.fit(df.loc[:"2014"])
    base = model.predict(df, start="2015-01-02")
    moved = model.predict(shocked(df, day), start="2015-01-02")
    assert base.loc[:day].equals(moved.loc[:day]), (
        f"{model.name}: forecast for {day} used day {day}"
    )
    assert not np.isclose(base.loc[nxt], moved.loc[nxt]), f"{model.name}: ignores yesterday's data"


VARIANCE_MODELS = [
    ArchForecaster("GARCH", name="garch"),
    ArchForecaster("GARCH", o=1, dist="t", name="gjr_t"),
    ArchForecaster("EGARCH", o=1, dist="t", name="egarch_t"),
    ArchForecaster("EWMA", name="ewma"),
    HARForecaster(target="parkinson"),
    HARForecaster((1,), name="har_daily"),
    HistoricalVariance(22),
]


@pytest.mark.parametrize("model", VARIANCE_MODELS, ids=lambda m: m.name)
def test_variance_models_are_positive_and_never_look_ahead(model, spx: pd.DataFrame) -> None:
    assert_no_look_ahead(model, spx, "2015-02-10", "2015-02-11")
    fc = model.predict(spx, start="2015-01-02")
    assert (fc > 0).all() and fc.index[0] == pd.Timestamp("2015-01-02")
    assert fc.index.equals(spx.loc["2015-01-02":].index)


def test_arch_forecaster_keeps_its_parameters_between_fits(spx: pd.DataFrame) -> None:
    m = ArchForecaster("GARCH").fit(spx.loc[:"2014"])
    params = m.params_.copy()
    m.predict(spx, start="2015-01-02")
    assert m.params_.equals(params)
    # the first forecast equals the textbook recursion with the fitted parameters
    r = percent_returns(spx).dropna()
    mu, omega, alpha, beta = params
    f = m.predict(spx.loc[:"2015-01-05"], start="2015-01-02")
    s2_prev = m.predict(spx.loc[:"2014-12-31"], start="2014-12-31").iloc[0]
    e = r.loc["2014-12-31"] - mu
    assert np.isclose(f.iloc[0], omega + alpha * e**2 + beta * s2_prev)


def test_historical_mean_variance_is_the_training_mean(spx: pd.DataFrame) -> None:
    m = HistoricalVariance(None).fit(spx.loc[:"2014"])
    assert np.isclose(m.mean_, (percent_returns(spx.loc[:"2014"]) ** 2).mean())
    assert m.predict(spx, start="2015-01-02").nunique() == 1


def test_parkinson_proxy_has_the_squared_return_level_on_training_rows(spx: pd.DataFrame) -> None:
    train = spx.loc[:"2014"]
    c = parkinson_scale(train)
    assert 1.0 < c < 2.5  # the range misses the overnight move
    pk = variance_proxy(train, "parkinson", scale=c)
    assert np.isclose(pk.iloc[1:].sum(), (percent_returns(train) ** 2).sum())
    assert np.isclose(
        parkinson(train).iloc[0],
        1e4 * np.log(train.high.iloc[0] / train.low.iloc[0]) ** 2 / (4 * np.log(2)),
    )
    with pytest.raises(ConfigError, match="parkinson_scale"):
        variance_proxy(train, "parkinson")


def test_ar1_return_and_always_up(spx: pd.DataFrame) -> None:
    assert_no_look_ahead(AR1("return"), spx, "2015-02-10", "2015-02-11")
    d = AR1("direction").fit(spx.loc[:"2014"]).predict(spx, start="2015-01-02")
    assert set(d.unique()) <= {0.0, 1.0}
    up = AlwaysUp().fit(spx).predict(spx, start="2015-01-02")
    assert (up == 1.0).all() and len(up) == len(spx.loc["2015-01-02":])


@pytest.mark.parametrize(
    "model",
    [
        *VARIANCE_MODELS,
        HistoricalVariance(None, target="parkinson", column="close"),
        AR1("direction"),
        AlwaysUp(),
    ],
    ids=lambda m: m.name,
)
def test_get_params_returns_the_constructor_arguments_and_rebuilds_the_model(model) -> None:
    params = model.get_params()
    twin = type(model)(**params)
    assert twin.get_params() == params and twin.name == model.name
    # stored as given: a proxy name stays a string, the HAR lags the tuple that was passed
    assert isinstance(params["target"], str)
    if isinstance(model, HARForecaster):
        assert params["lags"] is model.lags


def test_unfitted_models_raise_not_fitted_error_that_is_also_a_builtin(spx: pd.DataFrame) -> None:
    from gatecast.errors import NotFittedError

    for model in (ArchForecaster("GARCH"), HARForecaster(), HistoricalVariance(22), AR1()):
        with pytest.raises(NotFittedError, match="not fitted"):
            model.predict(spx)
        with pytest.raises(AttributeError, match="is not fitted; call fit"):
            model.predict(spx)
        with pytest.raises(ValueError, match="is not fitted; call fit"):
            model.predict(spx)

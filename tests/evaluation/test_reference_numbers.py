"""The harness against reference numbers: S&P 500, test 2015-01-02..2018-12-31, expanding window
from 1999, refit every 21 days, one-day variance, QLIKE (proxy floored at 1e-8).

Every classical baseline is pinned to 2e-4 in QLIKE: tight enough that GJR-GARCH with normal
errors (1.6974) is told from the Student-t one (1.6957), a normal symmetric EGARCH (1.7578) from
EGARCH-t (1.7174) and EWMA with lambda 0.97 (1.8237) from RiskMetrics' 0.94 (1.8089).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.volatility import percent_returns
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models, model_factory

pytestmark = pytest.mark.slow  # 48 refits of eight models: about a minute

COMMON = {
    "test_start": "2015-01-02",
    "test_end": "2018-12-31",
    "refit_every": 21,
    "quiet": True,
    "mcs_reps": 200,
    "n_jobs": 1,
}
SQUARED = {
    "gjr_t": 1.69567,
    "har": 1.70865,
    "egarch_t": 1.71742,
    "garch": 1.73914,
    "har_daily": 1.75437,
    "ewma": 1.80893,
    "no_change": 1.89705,
    "historical_mean": 2.23612,
}
TOL = 2e-4


@pytest.fixture(scope="module")
def squared():
    return evaluate_models(EvaluationConfig(models=tuple(SQUARED), **COMMON))


@pytest.mark.parametrize("model", list(SQUARED))
def test_squared_return_proxy_qlike_of_every_classical_baseline(squared, model: str) -> None:
    assert squared.leaderboard.loc[model, "qlike"] == pytest.approx(SQUARED[model], abs=TOL)


def test_squared_return_proxy_run(squared) -> None:
    board = squared.leaderboard
    assert squared.n_dates == 1006 and squared.n_folds == 48
    assert list(board.index) == list(SQUARED)  # sorted by QLIKE
    assert squared.reference == "garch" and squared.best_baseline == "gjr_t"
    # GJR-t beats GARCH(1,1) at the 5% level; the 22-day historical variance is 9% worse
    assert board.loc["gjr_t", "dm_ref"] == pytest.approx(-2.312, abs=0.01)
    assert board.loc["gjr_t", "p_ref"] == pytest.approx(0.021, abs=0.002)
    assert board.loc["no_change", "qlike"] / board.loc["garch", "qlike"] == pytest.approx(
        1.09, abs=0.01
    )
    assert bool(board.loc["gjr_t", "in_mcs"]) and not bool(board.loc["historical_mean", "in_mcs"])


def test_parkinson_proxy() -> None:
    res = evaluate_models(EvaluationConfig(models=("garch", "har"), proxy="parkinson", **COMMON))
    assert res.leaderboard.loc["garch", "qlike"] == pytest.approx(0.50632, abs=TOL)
    assert res.leaderboard.loc["har", "qlike"] == pytest.approx(0.45913, abs=TOL)
    assert res.parkinson_scale == pytest.approx(1.43572, abs=1e-5)


PARAMS = {
    "garch": ["mu", "omega", "alpha[1]", "beta[1]"],
    "gjr_t": ["mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu"],
    "egarch_t": ["mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu"],
    "ewma": [],  # RiskMetrics: lambda is fixed, nothing is estimated
}


@pytest.mark.parametrize("model", list(PARAMS))
def test_fitted_parameter_names(model: str) -> None:
    cfg = EvaluationConfig(models=(model,))
    fitted = model_factory(model, cfg)().fit(load("sp500").loc[:"2014"])
    assert list(fitted.params_.index) == PARAMS[model]
    if "nu" in PARAMS[model]:
        assert 4 < fitted.params_["nu"] < 10  # fat tails, but a finite variance
    if "gamma[1]" in PARAMS[model]:  # bad news raises the variance more than good news
        assert fitted.params_["gamma[1]"] * (1 if model == "gjr_t" else -1) > 0


def test_ewma_is_riskmetrics_094_in_closed_form() -> None:
    spx = load("sp500")
    cfg = EvaluationConfig(models=("ewma",))
    fc = model_factory("ewma", cfg)().fit(spx.loc[:"2014"]).predict(spx, start="2015-01-02")
    r2 = (percent_returns(spx) ** 2).reindex(spx.index)
    # sigma2_t = 0.94 sigma2_{t-1} + 0.06 r2_{t-1}, run from the previous forecast
    prev, lagged = fc.shift(1).iloc[1:], r2.shift(1).reindex(fc.index).iloc[1:]
    np.testing.assert_allclose(fc.iloc[1:], 0.94 * prev + 0.06 * lagged, rtol=1e-10)
    assert isinstance(fc, pd.Series) and len(fc) == 1006

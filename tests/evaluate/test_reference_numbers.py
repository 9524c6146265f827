"""The harness against published-style reference numbers: S&P 500, test 2015-01-02..2018-12-31,
expanding window from 1999, refit every 21 days, one-day variance, QLIKE (proxy floored at 1e-8)."""

from __future__ import annotations

import pytest

from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models

COMMON = {
    "test_start": "2015-01-02",
    "test_end": "2018-12-31",
    "refit_every": 21,
    "quiet": True,
    "mcs_reps": 200,
    "n_jobs": 1,
}


@pytest.fixture(scope="module")
def squared():
    return evaluate_models(EvaluationConfig(models=("garch", "gjr_t", "no_change"), **COMMON))


def test_squared_return_proxy(squared) -> None:
    board = squared.leaderboard
    assert squared.n_dates == 1006 and squared.n_folds == 48
    assert board.loc["garch", "qlike"] == pytest.approx(1.739, rel=0.01)
    assert board.loc["gjr_t", "qlike"] == pytest.approx(1.696, rel=0.01)
    # the 22-day historical variance is about 9% worse than GARCH(1,1)
    assert board.loc["no_change", "qlike"] / board.loc["garch", "qlike"] == pytest.approx(
        1.09, abs=0.02
    )
    assert board.loc["gjr_t", "dm_ref"] < 0 and board.loc["gjr_t", "in_mcs"]


def test_parkinson_proxy() -> None:
    res = evaluate_models(EvaluationConfig(models=("garch", "har"), proxy="parkinson", **COMMON))
    assert res.leaderboard.loc["garch", "qlike"] == pytest.approx(0.506, rel=0.01)
    assert res.leaderboard.loc["har", "qlike"] == pytest.approx(0.459, rel=0.01)
    assert res.parkinson_scale is not None and 1.3 < res.parkinson_scale < 1.6

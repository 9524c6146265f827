"""Every statistic the leaderboard prints, recomputed from the run folder by independent calls.

A small deterministic run (S&P 500 2018, refit every 63 days, the cheap classical models, plus a
two-seed "recurrent" model whose forecasts are made up so that no training is needed) is scored
and written; the tests read ``forecasts.parquet``, ``leaderboard.csv`` and ``metrics.json`` back
and recompute each column: the per-date losses by their closed forms, Diebold-Mariano with
``statsmodels``, the model confidence set with ``arch`` at the stated size (90%) and block length
(10), Pesaran-Timmermann with ``statsmodels``, and which model is the best baseline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import MCS
from statsmodels.stats.diagnostic import pesaran_timmermann
from statsmodels.tsa.stattools import diebold_mariano_test

from gatecast.data import load
from gatecast.data.volatility import parkinson_scale
from gatecast.evaluation.walkforward import WalkForwardPlan, WalkForwardResult, walk_forward
from gatecast.experiment.evaluation import (
    EvaluationConfig,
    EvaluationResult,
    model_factory,
    score_walk,
    write_evaluation,
)

PERIOD = {"test_start": "2018-01-02", "test_end": "2018-12-31", "refit_every": 63}
VARIANCE_BASELINES = ("garch", "har", "har_daily", "ewma", "no_change", "historical_mean")
REPS = 300  # the statistic does not depend on it; the recomputation uses the same number
RECURRENT = ("lstm", "gru")


def members(m: str) -> list[str]:
    """The forecast columns of a model: one per seed for the (made-up) recurrent ones."""
    return [f"{m}[s{s}]" for s in (0, 1)] if m in RECURRENT else [m]


def seed_mean_qlike(fc: pd.DataFrame, m: str) -> np.ndarray:
    """A model's per-date QLIKE, averaged over its seeds."""
    a = fc["actual"].to_numpy()
    return np.mean([qlike(a, fc[c].to_numpy()) for c in members(m)], axis=0)


def qlike(proxy: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Patton's QLIKE with the proxy floored at 1e-8 (README), written out, not imported."""
    x = np.maximum(proxy, 1e-8) / forecast
    return x - np.log(x) - 1


def dm(loss_a: np.ndarray, loss_b: np.ndarray) -> tuple[float, float]:
    """The HLN-corrected Diebold-Mariano test of statsmodels on two per-date loss series."""
    res = diebold_mariano_test(
        np.zeros(len(loss_a)), loss_a, loss_b, criterion=lambda _y, f: f, harvey_adj=True
    )
    return float(res.statistic), float(res.pvalue)


@dataclass
class Run:
    """A scored run and what its folder holds."""

    result: EvaluationResult
    board: pd.DataFrame
    forecasts: pd.DataFrame
    metrics: dict[str, Any]
    data: pd.DataFrame


def classical_walk(cfg: EvaluationConfig, data: pd.DataFrame, names: tuple[str, ...]) -> Any:
    factories = {m: model_factory(m, cfg) for m in names}
    return walk_forward(factories, data, WalkForwardPlan(**PERIOD), quiet=True)


def with_made_up_seeds(walk: WalkForwardResult, seeds: dict[str, pd.Series]) -> WalkForwardResult:
    """The walk with extra columns (a recurrent model's seeds) added on its dates."""
    fc = walk.forecasts.copy()
    for name, s in seeds.items():
        fc[name] = s.reindex(fc.index)
    return WalkForwardResult(fc, walk.folds, walk.seconds)


def scored(cfg: EvaluationConfig, walk: WalkForwardResult, data: pd.DataFrame, out: Path) -> Run:
    result = score_walk(walk, data, cfg)
    with pytest.MonkeyPatch.context() as mp:  # figures hold no statistic (and take seconds)
        mp.setattr(EvaluationResult, "plot", lambda self, folder: [])
        write_evaluation(result, out)
    return Run(
        result,
        pd.read_csv(out / "leaderboard.csv", index_col="model"),
        pd.read_parquet(out / "forecasts.parquet"),
        json.loads((out / "metrics.json").read_text()),
        data,
    )


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500")


@pytest.fixture(scope="module")
def variance_run(spx: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Run:
    cfg = EvaluationConfig(
        models=RECURRENT + VARIANCE_BASELINES,
        seeds=2,
        n_jobs=1,
        quiet=True,
        mcs_reps=REPS,
        **PERIOD,
    )
    walk = classical_walk(cfg, spx, VARIANCE_BASELINES)
    fc = walk.forecasts
    # two made-up "recurrent" models of two seeds each: lstm better than every baseline, gru
    # pulled towards the historical mean so that its MCS p-value lies between 0.10 and 0.25
    s0 = np.sqrt(fc["garch"] * fc["har_daily"])
    g0 = fc["har"] ** 0.2 * fc["historical_mean"] ** 0.8
    seeds = {"lstm[s0]": s0, "lstm[s1]": 1.08 * s0, "gru[s0]": g0, "gru[s1]": 1.1 * g0}
    walk = with_made_up_seeds(walk, seeds)
    return scored(cfg, walk, spx, tmp_path_factory.mktemp("variance"))


def test_the_losses_are_the_means_of_the_closed_forms_over_seeds(variance_run: Run) -> None:
    fc, board = variance_run.forecasts, variance_run.board
    a = fc["actual"].to_numpy()
    r2 = (100 * np.log(variance_run.data["adj_close"]).diff()) ** 2
    np.testing.assert_allclose(a, r2.reindex(fc.index).to_numpy(), rtol=1e-12)
    for m in VARIANCE_BASELINES:
        f = fc[m].to_numpy()
        assert board.loc[m, "qlike"] == pytest.approx(qlike(a, f).mean(), rel=1e-12)
        assert board.loc[m, "mse"] == pytest.approx(np.mean((a - f) ** 2), rel=1e-12)
        assert board.loc[m, "mae"] == pytest.approx(np.mean(np.abs(a - f)), rel=1e-12)
        assert board.loc[m, "seeds"] == 1 and np.isnan(board.loc[m, "qlike_sd"])
    # a recurrent model: per-date losses averaged over its seeds; the spread is over seed QLIKEs
    for m in RECURRENT:
        seeds = [qlike(a, fc[c].to_numpy()) for c in members(m)]
        f = np.array([fc[c].to_numpy() for c in members(m)])
        assert board.loc[m, "qlike"] == pytest.approx(np.mean(seeds), rel=1e-12)
        assert board.loc[m, "mse"] == pytest.approx(np.mean((a - f) ** 2), rel=1e-12)
        assert board.loc[m, "mae"] == pytest.approx(np.mean(np.abs(a - f)), rel=1e-12)
        assert board.loc[m, "qlike_sd"] == pytest.approx(
            np.std([s.mean() for s in seeds], ddof=1), rel=1e-10
        )
        assert board.loc[m, "seeds"] == 2
        np.testing.assert_allclose(fc[m], f.mean(axis=0), rtol=1e-12)
        assert variance_run.metrics["seed_losses"][m] == pytest.approx([s.mean() for s in seeds])
    assert list(board.index) == list(board["qlike"].sort_values().index)  # sorted by QLIKE


def test_reference_and_best_baseline(variance_run: Run) -> None:
    fc, metrics = variance_run.forecasts, variance_run.metrics
    mean_qlike = {m: seed_mean_qlike(fc, m).mean() for m in RECURRENT + VARIANCE_BASELINES}
    assert min(mean_qlike, key=mean_qlike.get) == "lstm"  # the best model is not a baseline ...
    best = min(VARIANCE_BASELINES, key=mean_qlike.get)
    assert metrics["best_baseline"] == variance_run.result.best_baseline == best == "har_daily"
    assert metrics["reference"] == "garch" and metrics["primary_loss"] == "qlike"
    assert metrics["n_dates"] == len(fc) == 251 and metrics["n_folds"] == 4


@pytest.mark.parametrize("tag", ["ref", "best"])
def test_diebold_mariano_against_the_reference_and_the_best_baseline(
    variance_run: Run, tag: str
) -> None:
    fc, board, metrics = variance_run.forecasts, variance_run.board, variance_run.metrics
    against = metrics["reference" if tag == "ref" else "best_baseline"]
    for m in board.index:
        if m == against:
            assert np.isnan(board.loc[m, f"dm_{tag}"]) and np.isnan(board.loc[m, f"p_{tag}"])
            continue
        stat, p = dm(seed_mean_qlike(fc, m), seed_mean_qlike(fc, against))
        assert board.loc[m, f"dm_{tag}"] == pytest.approx(stat, rel=1e-9), m
        assert board.loc[m, f"p_{tag}"] == pytest.approx(p, rel=1e-9), m
    # the pins mean something: historical_mean is significantly worse than GARCH(1,1) here
    assert (
        board.loc["historical_mean", "dm_best"] > 2
        and board.loc["historical_mean", "p_best"] < 0.05
    )


def test_model_confidence_set_at_90_percent_with_block_length_10(variance_run: Run) -> None:
    fc, board, metrics = variance_run.forecasts, variance_run.board, variance_run.metrics
    assert metrics["mcs"] == {
        "size": 0.1,
        "block_size": 10,
        "reps": REPS,
        "bootstrap": "stationary",
        "statistic": "range (R)",
        "loss": "qlike",
    }
    losses = pd.DataFrame({m: seed_mean_qlike(fc, m) for m in variance_run.result.config.models})
    mcs = MCS(
        losses, size=0.1, reps=REPS, block_size=10, method="R", bootstrap="stationary", seed=0
    )
    mcs.compute()
    pv = mcs.pvalues["Pvalue"]
    for m in board.index:
        assert board.loc[m, "mcs_p"] == pytest.approx(pv[m], abs=1e-12), m
        assert bool(board.loc[m, "in_mcs"]) == (m in mcs.included), m
    # gru's p-value lies between 0.10 and 0.25: in the 90% set, out of a 75% one
    assert 0.10 < board.loc["gru", "mcs_p"] < 0.25 and bool(board.loc["gru", "in_mcs"])
    assert not bool(board.loc["historical_mean", "in_mcs"])


def test_the_parkinson_proxy_is_scaled_on_pre_test_rows_only(spx: pd.DataFrame) -> None:
    cfg = EvaluationConfig(
        models=("ewma", "no_change"), proxy="parkinson", n_jobs=1, quiet=True, mcs_reps=50, **PERIOD
    )
    walk = classical_walk(cfg, spx, cfg.models)
    base = score_walk(walk, spx, cfg)
    assert base.parkinson_scale == pytest.approx(parkinson_scale(spx.loc[:"2017-12-29"]), rel=1e-12)
    # widen every test-period range: the scale must not move, the scored proxy must
    wide = spx.copy()
    wide.loc["2018-01-02":, "high"] *= 1.02
    moved = score_walk(walk, wide, cfg)
    assert moved.parkinson_scale == base.parkinson_scale
    assert not np.allclose(moved.forecasts["actual"], base.forecasts["actual"])
    # ... while a pre-test range moves it
    early = spx.copy()
    early.loc["2017-06-01", "high"] *= 1.02
    assert score_walk(walk, early, cfg).parkinson_scale != base.parkinson_scale


# -- return and direction targets: hit rate and Pesaran-Timmermann ------------------------------
@pytest.fixture(scope="module", params=["return", "direction"])
def point_run(request, spx: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Run:
    target = request.param
    baselines = ("no_change", "historical_mean", "ar1")
    cfg = EvaluationConfig(
        target=target,
        models=("gru", *baselines),
        seeds=2,
        n_jobs=1,
        quiet=True,
        mcs_reps=REPS,
        **PERIOD,
    )
    walk = classical_walk(cfg, spx, baselines)
    r = np.log(spx["adj_close"]).diff().shift(1)  # the return up to t-1: known when forecasting t
    if target == "return":
        seeds = {"gru[s0]": 0.3 * r, "gru[s1]": -0.1 * r + 2e-4}
    else:  # probabilities on both sides of 0.5
        seeds = {"gru[s0]": 0.5 + np.tanh(40 * r) / 4, "gru[s1]": 0.5 - np.tanh(20 * r) / 8}
    walk = with_made_up_seeds(walk, seeds)
    return scored(cfg, walk, spx, tmp_path_factory.mktemp(target))


def test_hit_rate_and_pesaran_timmermann(point_run: Run) -> None:
    fc, board = point_run.forecasts, point_run.board
    target = point_run.result.config.target
    moves = np.log(point_run.data["adj_close"]).diff().reindex(fc.index).to_numpy()
    for m in board.index:
        signal = fc[m].to_numpy() - (0.5 if target == "direction" else 0.0)
        if np.all(signal > 0) or np.all(signal <= 0):  # never changes side: undefined
            assert np.isnan(board.loc[m, "pt_stat"]) and np.isnan(board.loc[m, "pt_p"]), m
        else:
            ref = pesaran_timmermann(moves, signal)
            assert board.loc[m, "pt_stat"] == pytest.approx(ref.statistic, rel=1e-10), m
            assert board.loc[m, "pt_p"] == pytest.approx(ref.pvalue, rel=1e-10), m
        if np.any(signal):
            hits = np.mean(np.sign(moves) == np.sign(signal))
            assert board.loc[m, "hit_rate"] == pytest.approx(hits, rel=1e-12), m
        else:
            assert np.isnan(board.loc[m, "hit_rate"]), m
    assert np.isfinite(board.loc["gru", "pt_stat"])  # the made-up model is defined: it is tested
    if target == "return":
        assert np.isfinite(board.loc["ar1", "pt_stat"]) and np.isnan(
            board.loc["no_change", "hit_rate"]
        )


def test_point_losses_dm_and_the_reference(point_run: Run) -> None:
    fc, board, metrics = point_run.forecasts, point_run.board, point_run.metrics
    target = point_run.result.config.target
    r = np.log(point_run.data["adj_close"]).diff().reindex(fc.index).to_numpy()
    a = (r > 0).astype(float) if target == "direction" else r
    np.testing.assert_allclose(fc["actual"].to_numpy(), a, rtol=1e-12)
    primary = "brier" if target == "direction" else "mse"
    assert metrics["primary_loss"] == primary and metrics["reference"] == "no_change"

    def per_date(m: str) -> np.ndarray:
        cols = [f"gru[s{s}]" for s in (0, 1)] if m == "gru" else [m]
        return np.mean([(a - fc[c].to_numpy()) ** 2 for c in cols], axis=0)

    for m in board.index:
        assert board.loc[m, primary] == pytest.approx(per_date(m).mean(), rel=1e-12), m
        if target == "return":
            mae = np.mean(
                [
                    np.abs(a - fc[c].to_numpy())
                    for c in ([f"gru[s{s}]" for s in (0, 1)] if m == "gru" else [m])
                ],
                axis=0,
            )
            assert board.loc[m, "mae"] == pytest.approx(mae.mean(), rel=1e-12), m
        if m != "no_change":
            stat, p = dm(per_date(m), per_date("no_change"))
            assert board.loc[m, "dm_ref"] == pytest.approx(stat, rel=1e-9), m
            assert board.loc[m, "p_ref"] == pytest.approx(p, rel=1e-9), m
    baselines = ("no_change", "historical_mean", "ar1")
    assert metrics["best_baseline"] == min(baselines, key=lambda m: per_date(m).mean())

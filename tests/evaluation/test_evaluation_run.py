"""`gatecast evaluate` end to end on a short test period with tiny recurrent models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load
from gatecast.errors import ConfigError
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models

TINY = [
    "--n-jobs",
    "1",
    "--test-start",
    "2018-09-04",
    "--test-end",
    "2018-12-31",
    "--recurrent-epochs",
    "2",
    "--warm-epochs",
    "1",
    "--hidden",
    "4",
    "--quiet",
]


def test_cli_variance_run_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--target",
            "variance",
            "--models",
            "gru,garch,ewma,har,no_change",
            "--seeds",
            "2",
            "--out",
            str(out),
            *TINY,
        ],
    )
    assert res.exit_code == 0, res.output
    for name in (
        "leaderboard.csv",
        "forecasts.parquet",
        "metrics.json",
        "forecasts.png",
        "cumulative_loss.png",
    ):
        assert (out / name).is_file(), name
    board = pd.read_csv(out / "leaderboard.csv", index_col="model")
    assert set(board.index) == {"gru", "garch", "ewma", "har", "no_change"}
    assert {
        "qlike",
        "mse",
        "mae",
        "qlike_sd",
        "dm_ref",
        "p_ref",
        "dm_best",
        "p_best",
        "in_mcs",
    } <= set(board)
    assert board.loc["gru", "seeds"] == 2 and board.loc["gru", "qlike_sd"] >= 0
    fc = pd.read_parquet(out / "forecasts.parquet")
    assert {"actual", "gru", "gru[s0]", "gru[s1]", "garch"} <= set(fc.columns)
    assert (fc.drop(columns=["actual", "as_of"]) > 0).all().all()
    assert (fc["as_of"] < fc.index).all()  # each forecast from the days before it
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reference"] == "garch" and metrics["mcs"]["block_size"] == 10
    assert "garch" in res.output and "model confidence set" in res.output


@pytest.mark.slow  # a local Ray runtime starts, and each of its workers imports torch (~20 s)
def test_ray_gives_the_leaderboard_of_serial(tmp_path: Path) -> None:
    """`--executor ray` gives the forecasts and the leaderboard of `--executor serial`: HAR and
    EWMA (least squares, a fixed recursion) to the last digit, the GRU within 1e-4 relative (a
    worker computes with one torch thread, this process may not). No GARCH family here: arch's
    optimiser moves ~0.1% with the BLAS thread count. (The pool's numbers are serial's too:
    tests/evaluation/test_walkforward.py.)"""
    args = ["evaluate", "--models", "gru,ewma,har", *TINY[2:]]  # TINY without its --n-jobs 1
    for name, how in (("serial", []), ("ray", ["--n-jobs", "2"])):
        res = CliRunner().invoke(
            app, [*args, "--executor", name, *how, "--out", str(tmp_path / name)]
        )
        assert res.exit_code == 0, res.output
    fc, ref = (pd.read_parquet(tmp_path / n / "forecasts.parquet") for n in ("ray", "serial"))
    assert fc.index.equals(ref.index)
    for col in ("actual", "har", "ewma"):
        np.testing.assert_allclose(fc[col], ref[col], rtol=1e-12, err_msg=col)
    np.testing.assert_allclose(fc["gru"], ref["gru"], rtol=1e-4)
    board, serial = (
        pd.read_csv(tmp_path / n / "leaderboard.csv", index_col="model") for n in ("ray", "serial")
    )
    assert board.index.equals(serial.index) and board.columns.equals(serial.columns)
    losses, classical = ["qlike", "mse", "mae"], ["har", "ewma"]
    np.testing.assert_allclose(
        board.loc[classical, losses], serial.loc[classical, losses], rtol=1e-12
    )
    numeric = serial.select_dtypes("number").columns  # the GRU's DM and MCS columns too
    np.testing.assert_allclose(board[numeric], serial[numeric], rtol=1e-4, atol=1e-9)
    assert (board["in_mcs"] == serial["in_mcs"]).all()


@pytest.mark.parametrize("target", ["return", "direction"])
def test_return_and_direction_targets(target: str, tmp_path: Path) -> None:
    cfg = EvaluationConfig(
        target=target,
        models=("rnn", "no_change", "historical_mean", "ar1"),
        test_start="2018-09-04",
        test_end="2018-12-31",
        recurrent_epochs=2,
        hidden=4,
        quiet=True,
        out=str(tmp_path),
        mcs_reps=100,
        extra={"batch_size": 512, "patience": 0},
        n_jobs=1,
    )
    res = evaluate_models(cfg)
    assert {"hit_rate", "pt_stat", "pt_p", "dm_ref"} <= set(res.leaderboard.columns)
    if target == "return":  # a forecast that never moves has no hit rate (as in `gatecast train`)
        assert np.isnan(res.leaderboard.loc["no_change", "hit_rate"])
    assert 0 < res.leaderboard.loc["historical_mean", "hit_rate"] < 1
    assert res.reference == "no_change"
    assert res.primary_loss == ("mse" if target == "return" else "brier")


def test_nan_prices_are_an_error_or_dropped_and_reported(tmp_path: Path) -> None:
    df = load("sp500").loc["2016":"2018"]
    df.iloc[100, df.columns.get_loc("adj_close")] = np.nan
    df.to_csv(tmp_path / "px.csv")
    args = [
        "evaluate",
        "--data",
        str(tmp_path / "px.csv"),
        "--models",
        "garch,no_change",
        "--test-start",
        "2018-06-01",
        "--n-jobs",
        "1",
        "--quiet",
    ]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and str(df.index[100].date()) in res.output
    res = CliRunner().invoke(app, [*args, "--dropna", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "dropped 1 row" in res.output
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["dropped_rows"] == 1


def test_bad_options_exit_2_with_a_message(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["evaluate", "--target", "return", "--models", "garch", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "cannot forecast a return target" in res.output
    with pytest.raises(ConfigError, match="proxy"):
        EvaluationConfig(proxy="garman-klass")


def test_window_still_names_the_scheme_on_the_command_line(tmp_path: Path) -> None:
    args = ["evaluate", "--models", "garch,no-change", "--test-start", "2018-06-01"]
    args += ["--train-size", "1000", "--n-jobs", "1", "--quiet"]
    for flag, out in (("--window", tmp_path / "a"), ("--scheme", tmp_path / "b")):
        res = CliRunner().invoke(app, [*args, flag, "rolling", "--out", str(out)])
        assert res.exit_code == 0, res.output
        config = json.loads((out / "metrics.json").read_text())["config"]
        assert config["scheme"] == "rolling" and config["window"] == 5  # the variance default
        assert config["models"] == ["garch", "no_change"]
    a = pd.read_csv(tmp_path / "a" / "leaderboard.csv", index_col="model")
    b = pd.read_csv(tmp_path / "b" / "leaderboard.csv", index_col="model")
    pd.testing.assert_frame_equal(a, b)


def test_score_walk_then_write_evaluation_reproduce_the_qlike_from_the_forecasts(
    tmp_path: Path,
) -> None:
    from gatecast.experiment.evaluation import (
        load_checked,
        score_walk,
        walk_models,
        write_evaluation,
    )

    cfg = EvaluationConfig(
        models=("garch", "har_daily", "no_change"),
        test_start="2018-06-01",
        n_jobs=1,
        quiet=True,
        mcs_reps=100,
    )
    df, dropped = load_checked(cfg)
    res = score_walk(walk_models(cfg, df), df, cfg, dropped_rows=dropped)
    assert str(res) == res.summary() and res.reference == "garch"
    write_evaluation(res, tmp_path)
    fc = pd.read_parquet(tmp_path / "forecasts.parquet")
    x = fc["actual"].clip(lower=1e-8).to_numpy()[:, None] / fc[list(cfg.models)].to_numpy()
    qlike = pd.Series((x - np.log(x) - 1).mean(axis=0), index=list(cfg.models))
    board = pd.read_csv(tmp_path / "leaderboard.csv", index_col="model")
    np.testing.assert_allclose(board.loc[qlike.index, "qlike"], qlike, rtol=1e-10)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_dates"] == res.n_dates == len(fc)
    assert metrics["best_baseline"] == res.best_baseline == qlike.idxmin()

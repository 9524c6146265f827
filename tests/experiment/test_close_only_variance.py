"""Variance forecasting on a file with closes only: the recurrent model falls back to inputs
built from closes and the squared-return proxy, ``har`` and the hybrids' HAR become the HAR on
absolute returns, the run says so (notes, labels), and what still needs High/Low (the daily
range AR(1)) is refused by name before anything is fit."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load
from gatecast.experiment.registry import label, label_on

runner = CliRunner()


@pytest.fixture(scope="module")
def closes_csv(tmp_path_factory):
    df = load("sp500").loc["2011":"2015-03", ["adj_close"]].rename(columns={"adj_close": "Close"})
    path = tmp_path_factory.mktemp("close") / "closes.csv"
    df.to_csv(path, index_label="Date")
    return path


BASE = [
    "evaluate",
    "--target",
    "variance",
    "--test-start",
    "2015-01-02",
    "--refit-every",
    "63",
    "--recurrent-epochs",
    "2",
    "--warm-epochs",
    "1",
    "--hidden",
    "4",
    "--window",
    "10",
    "--n-jobs",
    "1",
    "--quiet",
]


@pytest.mark.slow
def test_close_only_evaluation_runs_and_says_what_it_chose(closes_csv, tmp_path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [*BASE, "--data", str(closes_csv), "--models", "lstm,garch,no_change", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "close-only data" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert any("log_rv22" in n for n in metrics["notes"])
    assert any("squared return" in n for n in metrics["notes"])
    board = {row["model"]: row for row in metrics["leaderboard"]}
    assert set(board) == {"lstm", "garch", "no_change"}
    assert board["lstm"]["qlike"] > 0


def test_a_model_that_needs_the_range_is_refused_by_name(closes_csv, tmp_path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(
        app, [*BASE, "--data", str(closes_csv), "--models", "lstm,har_daily", "--out", str(out)]
    )
    assert res.exit_code == 2
    assert "har_daily" in res.output and "High and Low" in res.output
    assert not out.exists() or not any(out.iterdir())
    # har is har_abs on closes only: the same model twice is refused, not ranked
    res = runner.invoke(
        app, [*BASE[:5], "--data", str(closes_csv), "--models", "har,har_abs", "--out", str(out)]
    )
    assert res.exit_code == 2 and "har and har_abs are the same model" in res.output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_the_hybrid_runs_on_closes_and_the_leaderboard_says_which_har(closes_csv, tmp_path) -> None:
    out = tmp_path / "run"
    models = "lstm_hybrid,lstm,har,gjr_t"
    res = runner.invoke(
        app, [*BASE, "--data", str(closes_csv), "--models", models, "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "the HAR of lstm_hybrid, har is HAR (1, 5, 22) on absolute returns" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    # each recurrent model's training target, as the model resolves it on closes only
    assert (
        "close-only data: lstm_hybrid train against the squared return shrunk halfway toward "
        "gjr_t's forecast of it"
    ) in metrics["notes"]
    assert "close-only data: lstm train against the squared return" in metrics["notes"]
    assert metrics["labels"]["har"] == "HAR (1, 5, 22) on |r| (closes only)"
    assert "HAR on |r|" in metrics["labels"]["lstm_hybrid"]
    board = {row["model"]: row for row in metrics["leaderboard"]}
    assert set(board) == {"lstm_hybrid", "lstm", "har", "gjr_t"}
    assert board["lstm_hybrid"]["qlike"] > 0
    assert "HAR (1, 5, 22) on |r| (closes only)" in (out / "report.html").read_text()


def test_har_labels_follow_the_data() -> None:
    assert label_on("har", True) == "HAR (1, 5, 22) on the log range"
    assert label_on("har", False) == "HAR (1, 5, 22) on |r| (closes only)"
    assert "GARCH/GJR-t/HAR on |r| forecasts" in label_on("lstm_hybrid", False)
    assert label_on("lstm_hybrid", True) == label("lstm_hybrid")
    assert label_on("lstm_resid", False) == label("lstm_resid")  # no HAR in it
    assert label_on("har_abs", True) == "HAR (1, 5, 22) on |r|"


@pytest.mark.slow
def test_a_close_only_hybrid_trains_predicts_and_streams_from_the_cli(closes_csv, tmp_path) -> None:
    model = tmp_path / "hybrid"
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(closes_csv),
            "--target",
            "variance",
            "--classical-inputs",
            "garch,gjr_t,har",
            "--residual",
            "gjr_t",
            "--epochs",
            "2",
            "--hidden",
            "4",
            "--out",
            str(model),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "the hybrid's har is HAR (1, 5, 22) on absolute returns |r|" in res.output
    assert "trained against the squared return shrunk halfway toward gjr_t's" in res.output
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["config"]["train_proxy"] == "shrunk"
    assert manifest["classical"]["inputs"][2] | {"coef": None, "level": None, "floor": None} == {
        "name": "har",
        "measure": "abs",
        "lags": [1, 5, 22],
        "coef": None,
        "level": None,
        "floor": None,
        "kind": "har",
    }
    fc = tmp_path / "fc.csv"
    res = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(closes_csv), "--out", str(fc)]
    )
    assert res.exit_code == 0, res.output
    predicted = pd.read_csv(fc, index_col="date", parse_dates=True)["forecast"]
    res = runner.invoke(app, ["stream", "--model", str(model), "--input", str(closes_csv)])
    assert res.exit_code == 0, res.output
    lines = [ln.split(",") for ln in res.stdout.strip().splitlines()]
    assert lines[0] == ["date", "forecast", "as_of", "forecast_for"]
    rows = pd.read_csv(closes_csv, index_col="Date", parse_dates=True).index
    # the forecast after each row is for the file's next row
    after = dict(pairwise(rows)) | {rows[-1]: predicted.index[-1]}
    streamed = pd.Series(
        [float(f) if f else np.nan for _, f, _, _ in lines[1:]],
        index=[after[pd.Timestamp(d[:10])] for d, *_ in lines[1:]],
    ).dropna()
    # the stream ran the classical models over its own rows: the same forecasts as predict
    both = streamed.index.intersection(predicted.index)
    assert len(both) == len(predicted) and len(both) > 800
    np.testing.assert_allclose(streamed[both], predicted[both], rtol=1e-6)


def test_hybrid_options_are_refused_for_a_point_target(closes_csv, tmp_path) -> None:
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(closes_csv),
            "--classical-inputs",
            "garch",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert res.exit_code == 2
    assert "classical_inputs (--classical-inputs) does not apply to target 'return'" in res.output
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_var_backtests_a_close_only_hybrid_and_notes_its_har(closes_csv, tmp_path) -> None:
    out = tmp_path / "var"
    res = runner.invoke(
        app,
        [
            "var",
            "--data",
            str(closes_csv),
            "--models",
            "lstm_hybrid,gjr_t",
            "--test-start",
            "2015-01-02",
            "--refit-every",
            "63",
            "--epochs",
            "2",
            "--warm-epochs",
            "1",
            "--hidden",
            "4",
            "--sims",
            "100",
            "--n-jobs",
            "1",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "the HAR of lstm_hybrid is HAR (1, 5, 22) on absolute returns" in res.output
    doc = json.loads((out / "var_backtest.json").read_text())
    assert any("absolute returns" in n for n in doc["notes"])
    rows = {(b["model"], b["distribution"]) for b in doc["backtests"]}
    assert ("lstm_hybrid", "t") in rows and ("gjr_t", "normal") in rows


def test_a_sweep_on_closes_notes_the_har_it_reads() -> None:
    from gatecast.experiment.sweep import SweepConfig
    from gatecast.experiment.sweep.run import _har_notes

    closes = load("sp500").loc["2014", ["adj_close"]]
    ranged = load("sp500").loc["2014"]
    hybrid = SweepConfig(out="unused", fixed={"classical_inputs": ("garch", "har")})
    assert "HAR (1, 5, 22) on absolute returns" in _har_notes(hybrid, closes)[0]
    assert _har_notes(hybrid, ranged) == []  # the range: the documented default
    assert _har_notes(SweepConfig(out="unused", baselines=("har",)), closes)
    assert _har_notes(SweepConfig(out="unused", grid={"cell": ("lstm_hybrid",)}), closes)
    assert _har_notes(SweepConfig(out="unused", baselines=("gjr_t",)), closes) == []

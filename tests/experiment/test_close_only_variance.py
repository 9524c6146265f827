"""Variance forecasting on a file with closes only: the recurrent model falls back to inputs
built from closes and the squared-return proxy, ``har`` and the hybrids' HAR become the HAR on
absolute returns, the run says so (notes, labels), and what still needs High/Low (the daily
range AR(1)) is refused by name before anything is fit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load
from gatecast.experiment.registry import data_label, label

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
    models = "lstm_hybrid,har,gjr_t"
    res = runner.invoke(
        app, [*BASE, "--data", str(closes_csv), "--models", models, "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "the HAR of lstm_hybrid, har is HAR (1, 5, 22) on absolute returns" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"]["har"] == "HAR (1, 5, 22) on |r| (closes only)"
    assert "HAR on |r|" in metrics["labels"]["lstm_hybrid"]
    board = {row["model"]: row for row in metrics["leaderboard"]}
    assert set(board) == {"lstm_hybrid", "har", "gjr_t"} and board["lstm_hybrid"]["qlike"] > 0
    assert "HAR (1, 5, 22) on |r| (closes only)" in (out / "report.html").read_text()


def test_har_labels_follow_the_data() -> None:
    assert data_label("har", True) == "HAR (1, 5, 22) on the log range"
    assert data_label("har", False) == "HAR (1, 5, 22) on |r| (closes only)"
    assert "GARCH/GJR-t/HAR on |r| forecasts" in data_label("lstm_hybrid", False)
    assert data_label("lstm_hybrid", True) == label("lstm_hybrid")
    assert data_label("lstm_resid", False) == label("lstm_resid")  # no HAR in it
    assert data_label("har_abs", True) == "HAR (1, 5, 22) on |r|"

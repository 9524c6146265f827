"""Variance forecasting on a file with closes only: the recurrent model falls back to inputs
built from closes and the squared-return proxy, says so, and HAR (which needs High/Low) is
refused by name before anything is fit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load

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
        app, [*BASE, "--data", str(closes_csv), "--models", "lstm,har", "--out", str(out)]
    )
    assert res.exit_code == 2
    assert "har" in res.output and "High and Low" in res.output
    assert not out.exists() or not any(out.iterdir())

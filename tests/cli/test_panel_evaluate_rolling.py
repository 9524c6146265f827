"""`gatecast evaluate --panel --scheme rolling --train-size N`: end to end into a run folder whose
folds train on each instrument's last N rows, the plan recording the scheme, and --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()


# the tests read `csv`: the two-instrument panel file of tests/cli/conftest.py
TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "25"]


def _evaluate(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--models", "lstm,gjr_t,har"]
    args += ["--test-start", "2011-01-03", "--out", str(out), *TINY]
    args += ["--scheme", "rolling", "--train-size", "250", *extra]
    return runner.invoke(app, args)


def test_a_rolling_panel_evaluation_end_to_end_and_its_resume(tmp_path: Path, csv: Path) -> None:
    out = tmp_path / "run"
    res = _evaluate(csv, out)
    assert res.exit_code == 0, res.output
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-evaluate", "finished")
    plan = json.loads((out / "folds" / "plan.json").read_text())["plan"]
    assert (plan["scheme"], plan["train_size"]) == ("rolling", 250)
    prices = pd.read_csv(csv, parse_dates=["date"])
    folds = pd.read_csv(out / "folds.csv", parse_dates=["train_start", "train_end", "test_start"])
    local = folds[folds.instrument != "*"]
    assert set(local.model) == {"gjr_t", "har"} and len(local) > 4
    for _, row in local.iterrows():  # each fold: the instrument's own last 250 rows
        own = pd.DatetimeIndex(prices.loc[prices.ticker == row.instrument, "date"])
        s = own.get_loc(row.test_start)
        assert (row.train_start, row.train_end) == (own[s - 250], own[s - 1])
    forecasts = run.table("forecasts")
    again = _evaluate(csv, out, "--resume")
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(Run.open(out).table("forecasts"), forecasts)

"""`gatecast var --panel --scheme rolling --train-size N --gap G`: end to end into a panel-var
run folder whose folds train on each instrument's own last N rows before a gap of G, the plan
recording the scheme, and --resume reading every fit back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11
from gatecast.experiment.run_reader import Run

runner = CliRunner()
START = str(pd.bdate_range("2010-01-04", periods=400)[330].date())


def _long_csv(path: Path) -> Path:
    """Two GARCH(1,1) instruments of 400 business days; BBB misses five days."""
    parts = []
    for k, name in enumerate(("AAA", "BBB")):
        g = garch11(400, seed=40 + k, start="2010-01-04")
        if name == "BBB":
            g = g.drop(g.index[100:105])
        dates = g.index.strftime("%Y-%m-%d")
        parts.append(pd.DataFrame({"date": dates, "ticker": name, "close": g["close"]}))
    pd.concat(parts).to_csv(path, index=False)
    return path


def _var(csv: Path, out: Path, *extra: str) -> object:
    args = ["var", "--data", str(csv), "--panel", "--models", "ewma", "--test-start", START]
    args += ["--refit-every", "25", "--calibration", "50", "--sims", "50", "--n-jobs", "1"]
    args += ["--scheme", "rolling", "--train-size", "250", "--gap", "1", "--horizon", "5"]
    return runner.invoke(app, [*args, "--out", str(out), *extra])


def test_a_rolling_panel_var_end_to_end_and_its_resume(tmp_path: Path) -> None:
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    res = _var(csv, out)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "2 instruments" in text and "5-day VaR on non-overlapping windows" in text
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-var", "finished")
    assert (run.config["scheme"], run.config["train_size"], run.config["gap"]) == (
        "rolling",
        250,
        1,
    )
    plan = json.loads((out / "folds" / "plan.json").read_text())["plan"]
    assert (plan["scheme"], plan["train_size"], plan["gap"]) == ("rolling", 250, 1)
    prices = pd.read_csv(csv, parse_dates=["date"])
    folds = pd.read_csv(out / "folds.csv", parse_dates=["train_start", "train_end", "test_start"])
    assert len(folds) == 2 * 5  # instruments x refits (2 of calibration, 3 of the test)
    for _, row in folds.iterrows():  # each fold: the instrument's own 250 rows before the gap
        own = pd.DatetimeIndex(prices.loc[prices.ticker == row.instrument, "date"])
        s = own.get_loc(row.test_start)
        assert (row.train_start, row.train_end) == (own[s - 251], own[s - 2])
    table = run.table("per_instrument")
    again = _var(csv, out, "--resume")
    assert again.exit_code == 0, again.output
    assert "fits read back from the earlier run" in again.output
    pd.testing.assert_frame_equal(Run.open(out).table("per_instrument"), table)
    other = _var(csv, out, "--resume", "--gap", "0")
    assert other.exit_code == 2 and "differs in ['plan']" in " ".join(other.output.split())

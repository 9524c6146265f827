"""A NaN in a column a model reads is an error naming its date, or with --dropna a dropped row
that the command reports and writes to metrics.json: in `gatecast train` and `gatecast evaluate`,
for the price column and for the High/Low columns a variance model reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import ar1_prices, load

runner = CliRunner()
TRAIN = ["--cell", "rnn", "--hidden", "3", "--layers", "1", "--window", "5", "--epochs", "1"]


def test_train_dropna_reports_the_dropped_rows(tmp_path: Path) -> None:
    df = ar1_prices(260, seed=1)[["close"]]
    df.index.name = "date"
    df.iloc[[40, 41, 90], 0] = np.nan
    df.to_csv(tmp_path / "p.csv")
    args = ["train", "--data", str(tmp_path / "p.csv"), *TRAIN, "--quiet"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and str(df.index[40].date()) in res.output
    assert "3 NaN/inf" in res.output and "--dropna" in res.output
    res = runner.invoke(app, [*args, "--dropna", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "dropped 3 row(s) with NaN/inf values" in res.output
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["dropped_rows"] == 3


@pytest.mark.parametrize("column", ["high", "low"])
def test_evaluate_checks_the_range_columns_of_a_variance_target(
    tmp_path: Path, column: str
) -> None:
    df = load("sp500").loc["2016":"2018"]
    bad = df.index[-50]  # in the test period
    df.loc[bad, column] = np.nan
    df.to_csv(tmp_path / "px.csv")
    args = ["evaluate", "--data", str(tmp_path / "px.csv"), "--models", "garch,no_change"]
    args += ["--test-start", "2018-06-01", "--n-jobs", "1", "--quiet"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 2, res.output
    assert str(bad.date()) in res.output and f"'{column}'" in res.output
    res = runner.invoke(app, [*args, "--dropna", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "dropped 1 row" in res.output
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["dropped_rows"] == 1
    fc = pd.read_parquet(tmp_path / "b" / "forecasts.parquet")
    numbers = fc.drop(columns="as_of")  # the dates the forecasts used
    assert bad not in fc.index and np.isfinite(numbers.to_numpy()).all()

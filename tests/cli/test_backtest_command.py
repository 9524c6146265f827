"""`gatecast backtest` end to end: a tiny walk-forward, the files, the table and the verdict, then
the same run folder traded again at another cost without refitting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import gbm

runner = CliRunner()
TINY = [
    "--refit-every",
    "70",
    "--epochs",
    "2",
    "--warm-epochs",
    "1",
    "--hidden",
    "4",
    "--n-jobs",
    "1",
    "--blocks",
    "8",
    "--quiet",
]


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """600 days of synthetic prices and the first of its last 140 (the test period)."""
    df = gbm(600, seed=1)[["close"]]
    df.index.name = "date"
    path = tmp_path_factory.mktemp("d") / "prices.csv"
    df.to_csv(path)
    return path, str(df.index[460].date())


@pytest.mark.slow
def test_backtest_writes_every_output_and_reuses_the_run(
    tmp_path: Path, prices_csv: tuple[Path, str]
) -> None:
    out = tmp_path / "bt"
    data, test_start = prices_csv
    res = runner.invoke(
        app,
        [
            "backtest",
            "--data",
            str(data),
            "--test-start",
            test_start,
            "--models",
            "gru,ar1",
            "--rule",
            "sign",
            "--cost-bps",
            "5",
            "--out",
            str(out),
            *TINY,
        ],
    )
    assert res.exit_code == 0, res.output
    for name in (
        "backtest.csv",
        "returns.parquet",
        "cost_sweep.csv",
        "pbo.json",
        "equity.png",
        "drawdown.png",
        "cost_sweep.png",
        "evaluation/forecasts.parquet",
    ):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "backtest.csv", index_col="model")
    assert list(table.index) == ["gru", "ar1", "buy_and_hold", "garch_vol_target"]
    assert {"psr", "dsr", "n_trials", "break_even_bps"} <= set(table.columns)
    assert "buy_and_hold" in res.output and "dsr" in res.output
    verdict = json.loads((out / "pbo.json").read_text())["verdict"]
    assert verdict.split(":")[0] in res.output.replace("\n", " ")

    folds = sorted((out / "evaluation" / "folds").rglob("*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in folds}
    again = runner.invoke(
        app,
        [
            "backtest",
            "--from-run",
            str(out / "evaluation"),
            "--cost-bps",
            "0",
            "--n-jobs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "bt0"),
        ],
    )
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in folds} == before  # nothing refit
    gross = pd.read_csv(tmp_path / "bt0" / "backtest.csv", index_col="model")["sharpe"]
    assert gross["gru"] == pytest.approx(table.loc["gru", "sharpe_gross"])


def test_a_bad_run_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["backtest", "--from-run", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "finished `gatecast evaluate` run folder" in res.output
    assert "Traceback" not in res.output

"""`gatecast backtest` end to end: a tiny walk-forward, the files, the table and the verdict, then
the same run folder traded again at another cost without refitting and labelled as its run; the
review's look-ahead through --from-run; options that would be ignored or are not numbers refused
before any work."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import gbm
from gatecast.evaluation.trading import INFORMATION_DATE
from gatecast.experiment.evaluation import EvaluationConfig

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
    # the columns a decision rests on first: net Sharpe, DSR, PSR, break-even, then the rest
    header = next(line for line in res.output.splitlines() if "break_even_bps" in line)
    at = [header.index(f" {c} ") for c in ("sharpe", "dsr", "psr", "break_even_bps")]
    assert at == sorted(at) and at[-1] < header.index("ann_return")
    # buy-and-hold never trades: its break-even cost is infinite, said in words, not "-inf"
    bh = table.loc["buy_and_hold", "break_even_bps"]
    assert np.isinf(bh)
    words = "profitable at any cost" if bh > 0 else "never profitable"
    assert words in res.output and "inf" not in res.output.replace("information", "")
    page = (out / "report.html").read_text()
    assert "<h1>prices.csv, backtest: sign rule, 5 bps</h1>" in page
    assert f"<dt>Command</dt><dd>gatecast backtest --data {data}" in page
    facts = json.loads((out / "pbo.json").read_text())
    verdict = facts["verdict"]
    assert verdict.split(":")[0] in res.output.replace("\n", " ")
    assert facts["possible_look_ahead"] == []  # honest GRU and AR(1) forecasts are not flagged
    stored = pd.read_parquet(out / "evaluation" / "forecasts.parquet")
    dates = pd.read_csv(data, index_col="date", parse_dates=True).index
    before = dates[dates.get_indexer(stored.index) - 1]
    assert (pd.DatetimeIndex(stored[INFORMATION_DATE]) == before).all()

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
    # labelled with the run's data and test period, not the defaults (sp500, 2015)
    assert f"{data}, rule sign" in again.output.replace("\n", "")
    written = json.loads((tmp_path / "bt0" / "config.json").read_text())
    assert (written["data"], written["test_start"]) == (str(data), test_start)


def test_a_bad_run_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["backtest", "--from-run", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "finished `gatecast evaluate` run folder" in res.output
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def evaluate_run(
    tmp_path_factory: pytest.TempPathFactory, prices_csv: tuple[Path, str]
) -> tuple[Path, Path]:
    """An evaluate folder as `gatecast evaluate` writes one (made-up honest forecasts), and a
    copy whose forecasts.parquet was replaced: lstm's forecast for day t is day t's own return."""
    data, test_start = prices_csv
    root = tmp_path_factory.mktemp("runs")
    cfg = EvaluationConfig(data=str(data), target="return", test_start=test_start, models=("lstm",))
    close = pd.read_csv(data, index_col="date", parse_dates=True)["close"]
    idx = close.index[460:]
    fc = pd.DataFrame({"actual": np.log(close).diff().loc[idx]}, index=idx)
    fc["lstm[s0]"] = np.random.default_rng(2).normal(0, 1e-3, len(idx))
    fc["lstm"] = fc["lstm[s0]"]
    fc[INFORMATION_DATE] = close.index[459:-1]
    folders = []
    for name, frame in [("honest", fc), ("replaced", fc.assign(lstm=fc["actual"]))]:
        run = root / name
        run.mkdir()
        (run / "metrics.json").write_text(json.dumps({"config": asdict(cfg)}, default=str))
        frame.to_parquet(run / "forecasts.parquet")
        folders.append(run)
    return folders[0], folders[1]


def test_the_reviews_look_ahead_through_from_run_is_flagged(
    tmp_path: Path, evaluate_run: tuple[Path, Path], prices_csv: tuple[Path, str]
) -> None:
    _, replaced = evaluate_run
    out = tmp_path / "bt"
    args = ["backtest", "--from-run", str(replaced), "--n-jobs", "1", "--quiet"]
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Possible look-ahead in lstm" in text and "lstm beats" not in text
    assert f"{prices_csv[0]}, rule sign" in text  # the run's data, not sp500
    facts = json.loads((out / "pbo.json").read_text())
    assert facts["possible_look_ahead"] == ["lstm"]
    assert facts["look_ahead_screen"]["lstm"]["hit_rate"] == 1.0
    assert "Possible look-ahead in lstm" in (out / "report.html").read_text()


@pytest.mark.parametrize("option", [["--data", "sp500"], ["--test-start", "2015-01-01"]])
def test_a_walk_option_beside_from_run_is_refused_by_name_even_at_its_default(
    tmp_path: Path, evaluate_run: tuple[Path, Path], option: list[str]
) -> None:
    honest, _ = evaluate_run
    out = tmp_path / "bt"
    res = runner.invoke(app, ["backtest", "--from-run", str(honest), *option, "--out", str(out)])
    assert res.exit_code == 2
    assert f"{option[0]} cannot be used with --from-run" in " ".join(res.output.split())
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--cost-bps", "nan"),
        ("--cost-bps", "inf"),
        ("--cost-bps", "-5"),
        ("--cap", "inf"),
        ("--var-sharpe", "nan"),
        ("--blocks", "7"),
        ("--blocks", "1"),
    ],
)
def test_bad_numbers_are_refused_before_any_fitting(
    tmp_path: Path, prices_csv: tuple[Path, str], option: str, value: str
) -> None:
    data, test_start = prices_csv
    out = tmp_path / "bt"
    walk = ["--data", str(data), "--test-start", test_start, "--models", "ar1", *TINY[:-3]]
    res = runner.invoke(app, ["backtest", *walk, option, value, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert f"{option} {value}" in res.output and "Traceback" not in res.output
    assert not out.exists()  # nothing fitted, nothing written

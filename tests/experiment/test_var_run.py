"""`gatecast var` and `gatecast evaluate --intervals` end to end on synthetic GARCH prices: the
files, their statistics recomputed from the stored series, the degrees of freedom fit before each
fold only, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11
from gatecast.experiment.var import VarConfig, fold_dof, run_var

runner = CliRunner()


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """1200 days of GARCH(1,1) closes and the first of their last 300 (the test period)."""
    df = garch11(1200, seed=3)[["close"]]
    df.index.name = "date"
    path = tmp_path_factory.mktemp("d") / "garch.csv"
    df.to_csv(path)
    return path, str(df.index[900].date())


@pytest.fixture(scope="module")
def var_run(prices_csv, tmp_path_factory):
    path, start = prices_csv
    out = tmp_path_factory.mktemp("var") / "run"
    cfg = VarConfig(
        data=str(path),
        models=("garch", "ewma"),
        test_start=start,
        refit_every=100,
        calibration=100,
        sims=200,
        n_jobs=1,
        quiet=True,
        out=str(out),
    )
    return run_var(cfg), out


def test_the_var_run_writes_its_table_and_the_table_matches_its_series(var_run) -> None:
    res, out = var_run
    for name in ("var_backtest.csv", "var_backtest.json", "risk.parquet", "exceptions.png"):
        assert (out / name).is_file(), name
    assert (out / "evaluation" / "folds" / "plan.json").is_file()  # the walk-forward resumes
    table = pd.read_csv(out / "var_backtest.csv", index_col=[0, 1])
    assert list(table.index) == [
        ("garch", "normal"),
        ("garch", "t"),
        ("ewma", "normal"),
        ("ewma", "t"),
    ]
    risk = pd.read_parquet(out / "risk.parquet")
    assert risk["date"].min() == res.first_date and len(risk) == 4 * 300
    for (model, dist), row in table.iterrows():
        rows = risk[(risk["model"] == model) & (risk["distribution"] == dist)]
        x = int((rows["return"] < -rows["var"]).sum())
        n, p = len(rows), 0.01
        lr = -2 * ((n - x) * np.log(1 - p) + x * np.log(p))
        if x:
            lr += 2 * ((n - x) * np.log(1 - x / n) + x * np.log(x / n))
        assert row["exceptions"] == x and row["n"] == n == 300
        assert row["kupiec_p"] == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-9)
        last = int((rows["return"] < -rows["var"]).iloc[-250:].sum())
        assert row["basel_exceptions"] == last
        assert row["zone"] == ("green" if last < 5 else "yellow" if last < 10 else "red")
    doc = json.loads((out / "var_backtest.json").read_text())
    assert doc["calibration_start"] < str(res.first_date)[:10]
    assert {b["model"] for b in doc["backtests"]} == {"garch", "ewma"}
    assert "Acerbi-Szekely" in doc["tests"]["es"]


def test_t_degrees_of_freedom_use_only_the_dates_before_each_fold(var_run, prices_csv) -> None:
    res, _ = var_run
    path, _ = prices_csv
    returns = 100 * np.log(pd.read_csv(path, index_col=0, parse_dates=True)["close"]).diff()
    variance = res.walk.forecasts["garch"].dropna()
    folds = sorted(pd.Timestamp(d) for d in res.walk.folds["test_start"].unique())
    nu = fold_dof(returns, variance, folds)
    later = returns.copy()
    later[later.index >= folds[2]] *= 3  # what fold 2 forecasts must not reach its nu
    again = fold_dof(later, variance, folds)
    inside = (nu.index >= folds[1]) & (nu.index < folds[2])
    assert (again[inside] == nu[inside]).all() and np.isfinite(nu[inside]).all()
    assert again[nu.index >= folds[3]].iloc[0] != nu[nu.index >= folds[3]].iloc[0]
    assert nu[nu.index < folds[1]].isna().all()  # the calibration fold has nothing before it


def test_the_var_command_prints_the_table_and_refuses_a_bad_level(prices_csv, tmp_path) -> None:
    path, start = prices_csv
    args = ["var", "--data", str(path), "--models", "gjr-t", "--test-start", start]
    args += ["--refit-every", "150", "--calibration", "150", "--sims", "50", "--n-jobs", "1"]
    res = runner.invoke(app, [*args, "--quiet", "--out", str(tmp_path / "v")])
    assert res.exit_code == 0, res.output
    assert "gjr_t t" in res.output and "kupiec" in res.output and "verdict" in res.output
    bad = runner.invoke(app, [*args, "--level", "99", "--out", str(tmp_path / "w")])
    assert bad.exit_code == 2 and "level=99.0: a confidence level in (0.5, 1)" in bad.output


def test_evaluate_with_intervals_adds_coverage_to_the_leaderboard(prices_csv, tmp_path) -> None:
    path, start = prices_csv
    out = tmp_path / "ev"
    args = ["evaluate", "--data", str(path), "--target", "return", "--models", "no_change,ar1"]
    args += ["--test-start", start, "--refit-every", "100", "--n-jobs", "1", "--quiet"]
    res = runner.invoke(app, [*args, "--intervals", "0.9", "--out", str(out)])
    assert res.exit_code == 0, res.output
    board = pd.read_csv(out / "leaderboard.csv", index_col=0)
    assert {"cover", "width", "cover_calm", "cover_middle", "cover_storm"} <= set(board.columns)
    assert (out / "fan_chart.png").is_file() and (out / "intervals" / "calibration").is_dir()
    iv = pd.read_parquet(out / "intervals.parquet")
    rows = iv[(iv["model"] == "ar1") & (iv["method"] == "aci_norm")]
    hit = (rows["lower"] <= rows["actual"]) & (rows["actual"] <= rows["upper"])
    assert board.loc["ar1", "cover"] == pytest.approx(hit.mean())
    assert len(rows) == 300 and 0.8 < hit.mean() < 0.97
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["intervals"]["level"] == 0.9 and "garch" in metrics["intervals"]["scale"]
    bad = runner.invoke(app, [*args, "--intervals", "90", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "an interval level in (0, 1)" in bad.output

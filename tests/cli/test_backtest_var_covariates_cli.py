"""`gatecast backtest` and `gatecast var` with --covariates, on one series and a panel: the
table sets each model that reads the group beside the same model without it; --covariates
beside --from-run, and covariates that no model asked for reads, are refused (exit 2) before
any fit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from gatecast.cli.app import app

runner = CliRunner()
WALK = ["--test-start", "2018-10-01", "--refit-every", "126", "--n-jobs", "1"]
NET = ["--epochs", "1", "--warm-epochs", "1", "--hidden", "4"]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_backtest_with_vix_trades_lstm_and_arx_beside_lstm_and_ar1(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    args = ["backtest", "--data", "sp500", "--covariates", "vix", "--models", "lstm,ar1"]
    res = runner.invoke(app, [*args, *WALK, *NET, "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "backtest.csv", index_col=0)
    assert list(table.index) == [
        "lstm",
        "lstm+vix",
        "ar1",
        "arx+vix",
        "buy_and_hold",
        "garch_vol_target",
    ]
    assert "arx+vix" in res.output
    assert "note: covariate vix starts on 2014-01-03" in _flat(res.output)


def test_var_with_vix_backtests_har_x_beside_har(tmp_path: Path) -> None:
    out = tmp_path / "var"
    args = ["var", "--data", "sp500", "--covariates", "vix", "--models", "har,garch"]
    res = runner.invoke(
        app, [*args, *WALK, "--calibration", "60", "--sims", "100", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "var_backtest.csv")
    assert list(dict.fromkeys(table["model"])) == ["har", "har_x+vix", "garch"]
    assert "covariate vix starts on 2014-01-03" in _flat(res.output)


def test_covariates_no_model_reads_are_refused_before_any_fit(tmp_path: Path) -> None:
    out = tmp_path / "x"
    for args, message in [
        (
            ["backtest", "--models", "no_change", "--covariates", "vix"],
            "--models no_change has none of them; add lstm or ar1",
        ),
        (
            ["var", "--models", "garch,gjr_t", "--covariates", "vix"],
            "--models garch,gjr_t has none of them; add lstm or har",
        ),
        (["var", "--covariates", "vxx"], "covariate 'vxx' is unknown"),
        (
            ["var", "--data", "arch_panel", "--models", "garch", "--covariates", "vix"],
            "--models garch has none of them",
        ),
    ]:
        res = runner.invoke(app, [*args, *WALK, "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert message in _flat(res.output) and "Traceback" not in res.output
        assert not out.exists()


def test_covariates_beside_from_run_are_refused(tmp_path: Path) -> None:
    run = tmp_path / "ev"
    args = ["evaluate", "--data", "sp500", "--target", "return", "--covariates", "vix"]
    res = runner.invoke(app, [*args, "--models", "ar1", *WALK, "--quiet", "--out", str(run)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "bt"
    res = runner.invoke(
        app, ["backtest", "--from-run", str(run), "--covariates", "vix", "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert "--covariates cannot be used with --from-run" in _flat(res.output)
    res = runner.invoke(
        app, ["backtest", "--from-run", str(run), "--n-jobs", "1", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "backtest.csv", index_col=0)
    assert list(table.index)[:2] == ["ar1", "arx+vix"]


def test_panel_backtest_and_var_with_vix(tmp_path: Path) -> None:
    panel = ["--data", "arch_panel", "--covariates", "vix", *WALK]
    res = runner.invoke(
        app,
        ["backtest", *panel, "--models", "ar1,no_change", "--out", str(tmp_path / "bt")],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "bt" / "backtest.csv", index_col=0)
    assert list(table.index) == ["ar1", "arx+vix", "no_change"]
    res = runner.invoke(
        app,
        ["var", *panel, "--models", "har", "--calibration", "60", "--sims", "100",
         "--out", str(tmp_path / "var")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(tmp_path / "var" / "summary.csv")
    assert list(dict.fromkeys(summary["model"])) == ["har", "har_x+vix"]


def test_covariates_beside_a_panel_from_run_are_refused(tmp_path: Path) -> None:
    run = tmp_path / "ev"
    args = ["evaluate", "--data", "arch_panel", "--target", "return", "--covariates", "vix"]
    res = runner.invoke(app, [*args, "--models", "ar1,no_change", *WALK, "--out", str(run)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "bt"
    res = runner.invoke(
        app, ["backtest", "--from-run", str(run), "--covariates", "vix", "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert "--covariates does not apply to a panel backtest: the forecasts of" in _flat(res.output)
    assert not out.exists()
    res = runner.invoke(app, ["backtest", "--from-run", str(run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(out / "backtest.csv", index_col=0).index)[:2] == ["ar1", "arx+vix"]

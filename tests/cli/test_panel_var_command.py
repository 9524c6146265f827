"""`gatecast var` on a panel: a long CSV read with --panel, the panel-var run folder and Run.open
reading it, the options that do not apply refused by name (exit 2, nothing written), --resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11
from gatecast.experiment.run_reader import Run

runner = CliRunner()


def _long_csv(path: Path) -> Path:
    """Three GARCH(1,1) instruments of 450 business days in one long file; BBB misses 4 days."""
    parts = []
    for k, name in enumerate(("AAA", "BBB", "CCC")):
        g = garch11(450, seed=10 + k, start="2010-01-04")
        if name == "BBB":
            g = g.drop(g.index[380:384])  # inside the test
        parts.append(
            pd.DataFrame(
                {"date": g.index.strftime("%Y-%m-%d"), "ticker": name, "close": g["close"]}
            )
        )
    pd.concat(parts).to_csv(path, index=False)
    return path


START = str(pd.bdate_range("2010-01-04", periods=450)[350].date())
CHEAP = ["--refit-every", "25", "--calibration", "50", "--sims", "100", "--n-jobs", "1"]


def _var(csv: Path, out: Path, *extra: str) -> object:
    args = ["var", "--data", str(csv), "--panel", "--models", "garch,ewma", "--test-start", START]
    return runner.invoke(app, [*args, *CHEAP, "--out", str(out), *extra])


def test_a_long_csv_runs_end_to_end_and_resumes(tmp_path: Path) -> None:
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    res = _var(csv, out, "--level", "0.99,0.95")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "panel (--panel): file" in text and "read as long (instrument column 'ticker')" in text
    assert "3 instruments" in text and "garch t 0.95" in text and "kupiec_rejected" in text
    assert "per instrument: exceptions of the 0.99 VaR" in text
    for name in ("per_instrument.csv", "summary.csv", "risk.parquet", "folds.csv", "metrics.json"):
        assert (out / name).is_file(), name
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-var", "finished")
    assert run.command is not None and "--panel" in run.command
    assert run.config["levels"] == [0.99, 0.95] and run.config["models"] == ["garch", "ewma"]
    assert run.config["data"] == str(csv)
    table = run.table("per_instrument")
    assert len(table) == 3 * 2 * 2 * 2 and set(table.instrument) == {"AAA", "BBB", "CCC"}
    summary = run.table()
    assert summary.loc[("ewma", "normal", 0.95), "instruments"] == 3
    # BBB's own calendar: its test rows are its own dates, none of the four it misses
    risk = run.table("risk")
    bbb = pd.DatetimeIndex(risk.loc[risk.instrument == "BBB", "date"].unique())
    aaa = pd.DatetimeIndex(risk.loc[risk.instrument == "AAA", "date"].unique())
    assert len(aaa) - len(bbb) == 4
    # resumed: every fit read back, the same numbers
    again = _var(csv, out, "--level", "0.99,0.95", "--resume")
    assert again.exit_code == 0, again.output
    assert "fits read back from the earlier run" in again.output
    pd.testing.assert_frame_equal(Run.open(out).table("per_instrument"), table)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--horizon", "0"], "horizon=0: must be an integer >= 1"),
        (["--seeds", "2"], "--seeds does not apply to a panel"),
        (["--train-size", "200"], "train_size=200 is the length of a rolling"),
        (["--scheme", "rolling", "--train-size", "200"], "instrument 'AAA' has 200 rows in its"),
        (["--hidden", "4"], "--hidden does not apply to a panel: it sets the recurrent"),
        (["--models", "lstm_resid,garch"], "'lstm_resid' does not run on a panel yet"),
        (["--level", "0.99,1.5"], "level=1.5: a confidence level in (0.5, 1)"),
        (["--dist", "cauchy"], "distribution"),
        (["--test-start", "2010-06-01"], "instrument 'AAA' has"),
    ],
)
def test_options_that_do_not_apply_are_refused_by_name_and_nothing_is_written(
    tmp_path: Path, extra: list[str], message: str, refused
) -> None:
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    refused(_var(csv, out, *extra), message, out)


def test_one_series_takes_one_level(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["var", "--data", "sp500", "--level", "0.99,0.95", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2
    assert "--level 0.99,0.95: one level on one series (several on a panel)" in res.output
    assert not (tmp_path / "r").exists()


def test_a_bundled_panel_is_a_panel_without_the_flag(tmp_path: Path) -> None:
    """sp500_stocks is read as a panel (no --panel), so a panel's refusals apply to it."""
    res = runner.invoke(
        app, ["var", "--data", "sp500_stocks", "--seeds", "2", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2
    assert "--seeds does not apply to a panel" in " ".join(res.output.split())
    assert not (tmp_path / "r").exists()


def test_the_h_day_var_on_a_panel_runs_end_to_end(tmp_path: Path) -> None:
    """--horizon 5 on a panel: the pooled h-day table printed, its files in the run folder, each
    instrument's windows its own rows (BBB misses 4 test days: fewer windows or the same)."""
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    res = _var(csv, out, "--horizon", "5", "--dist", "normal")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "5-day VaR on non-overlapping windows, pooled over instruments" in text
    assert "kupiec_rejected_own" in text
    for name in ("horizon_summary.csv", "horizon_per_instrument.csv", "horizon_risk.parquet"):
        assert (out / name).is_file(), name
    run = Run.open(out)
    assert run.config["horizon"] == 5 and run.command is not None and "--horizon" in run.command
    table = run.table("horizon_per_instrument").set_index(["instrument", "model"])
    assert table.loc[("AAA", "garch"), "windows"] == 100 // 5
    assert table.loc[("BBB", "garch"), "windows"] == 96 // 5
    summary = run.table("horizon_summary")
    assert summary.loc[("ewma", "normal", 0.99), "own_is"] == "sqrt-time (no closed form)"
    assert summary.loc[("garch", "normal", 0.99), "windows"] == 3 * 20 - 1

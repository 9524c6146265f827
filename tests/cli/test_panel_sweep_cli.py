"""`gatecast sweep` on a panel: a long CSV read with --panel, the selection (mean over seeds) and
the test's panel leaderboard printed, the panel-sweep run folder, options refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()


def _long_csv(path: Path) -> Path:
    """Two instruments on their own calendars (BBB misses five days), 420 business days."""
    days = pd.bdate_range("2010-01-01", periods=420)
    rng = np.random.default_rng(3)
    parts = []
    for name, vol in (("AAA", 1.0), ("BBB", 2.0)):
        own = days if name == "AAA" else days.delete(np.arange(100, 105))
        r = vol * 0.01 * rng.standard_normal(len(own))
        close = 100 * np.exp(r.cumsum())
        parts.append(
            pd.DataFrame({"date": own.strftime("%Y-%m-%d"), "ticker": name, "close": close})
        )
    pd.concat(parts).to_csv(path, index=False)
    return path


def _sweep(csv: Path, out: Path, *extra: str) -> object:
    args = ["sweep", "--data", str(csv), "--panel", "--out", str(out), "--set", "epochs=1"]
    args += ["--set", "warm_epochs=1", "--select-start", "2011-01-03"]
    args += ["--test-start", "2011-07-01", "--refit-every", "63", "--executor", "serial"]
    return runner.invoke(app, [*args, *extra])


def test_a_panel_sweep_prints_the_choice_and_the_tests_panel_leaderboard(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _sweep(
        _long_csv(tmp_path / "long.csv"),
        out,
        "--grid",
        "hidden=4",
        "--seeds",
        "2",
        "--target",
        "return",
        "--baselines",
        "ar1",
    )
    assert res.exit_code == 0, res.output
    assert "panel (--panel)" in res.output
    assert "median MSE ratio to no_change" in res.output
    assert "per instrument: MSE ratio to no_change" in res.output
    assert "selected: hidden=4 (lstm)" in res.output
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-sweep", "finished")
    assert run.command is not None and run.command[:2] == ["gatecast", "sweep"]
    trials = run.table("trials")
    assert sorted(trials["seed"]) == [0, 1]
    # the selection statistic of a configuration is the mean of its seeds' statistics
    selection = run.table("selection")
    assert selection["select_mean"].iloc[0] == pytest.approx(trials["score"].mean(), rel=1e-12)
    assert list(run.table("test").index) == ["lstm", "no_change", "ar1"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--top-k", "2"], "--top-k does not apply to a panel sweep"),
        (["--record"], "--record does not apply to a panel sweep"),
        (["--proxy", "parkinson"], "--proxy parkinson does not apply"),
        (["--grid", "train_rows=100"], "'train_rows' is not a parameter of the global recurrent"),
        (["--set", "residual=gjr_t"], "'residual' is not a parameter of the global recurrent"),
        (["--baselines", "gru"], "baseline gru: the global recurrent model is swept"),
    ],
)
def test_what_does_not_apply_to_a_panel_exits_2_naming_it(
    tmp_path: Path, extra: list[str], says: str
) -> None:
    out = tmp_path / "run"
    res = _sweep(_long_csv(tmp_path / "long.csv"), out, *extra)
    assert res.exit_code == 2, res.output
    assert says in " ".join(res.output.split())
    assert not out.exists()

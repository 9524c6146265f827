"""`Run.open` reads back every kind of run folder the CLI writes (their kind, status, settings,
data and tables), folders written before `run.json` existed, and refuses what is no run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.errors import ConfigError
from gatecast.experiment.run_folder import RUN_RECORD
from gatecast.experiment.run_reader import Run

runner = CliRunner()
WALK = ["--n-jobs", "1", "--quiet", "--test-start", "2018-07-02", "--refit-every", "60"]
TINY = ["--cell", "gru", "--hidden", "3", "--layers", "1", "--window", "5", "--epochs", "1"]
TINY += ["--quiet", "--device", "cpu"]


def _ok(args: list[str]) -> None:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {k: root / k for k in ("evaluate", "var", "backtest", "train", "gradient-flow")}
    out |= {"blocks": root / "blocks", "sweep": root / "sweep"}
    _ok(["evaluate", "--out", out["evaluate"], "--models", "garch,ewma", *WALK])
    _ok(["evaluate", "--out", out["blocks"], "--models", "garch,ewma", *WALK, "--blocks", "1y"])
    var = ["var", "--out", out["var"], "--models", "garch", "--calibration", "60", *WALK]
    _ok([*var, "--sims", "50"])
    _ok(["backtest", "--out", out["backtest"], "--models", "ar1", "--blocks", "4", *WALK])
    _ok(["train", "--data", "sp500", "--out", out["train"], "--test-start", "2018-07-02", *TINY])
    _ok(["gradient-flow", "--out", out["gradient-flow"], "--steps", "5", "--hidden", "4"])
    sweep = ["sweep", "--out", out["sweep"], "--grid", "window=3,5", "--set", "epochs=1 hidden=2"]
    sweep += ["--test-start", "2018-07-02", "--select-start", "2018-01-02", "--refit-every", "60"]
    _ok([*sweep, "--executor", "serial"])
    return out


TABLE = {
    "evaluate": ("leaderboard", "garch"),
    "blocks": ("blocks", None),
    "var": ("var_backtest", None),
    "backtest": ("backtest", "ar1"),
    "train": ("forecasts", None),
    "sweep": ("selection", None),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["evaluate", "blocks", "var", "backtest", "train", "sweep", "gradient-flow"]
)
def test_every_kind_of_run_reads_back(runs: dict[str, Path], kind: str, tmp_path: Path) -> None:
    run = Run.open(runs[kind])
    assert (run.kind, run.status, run.format_version) == (kind, "finished", 1)
    if kind != "gradient-flow":
        assert run.config["data"] == "sp500" and run.data is not None
        assert run.data["source"] == "sp500" and run.data["rows"] == 5031
        name, row = TABLE[kind]
        table = run.table()
        assert isinstance(table, pd.DataFrame) and len(table) > 0
        assert run.table(name).equals(table)
        if row is not None:
            assert row in table.index
        assert "<table" in run._repr_html_()
    else:
        with pytest.raises(ConfigError, match="figures and JSON only"):
            run.table()
    # the same folder as an earlier version wrote it (no run.json): recognised by its files
    earlier = tmp_path / "earlier"
    shutil.copytree(runs[kind], earlier)
    (earlier / RUN_RECORD).unlink()
    old = Run.open(earlier)
    assert (old.kind, old.status, old.format_version) == (kind, "finished", 0)
    if kind in ("evaluate", "train", "backtest", "var", "sweep", "blocks"):
        assert old.config["data"] == "sp500"


def test_what_is_no_run_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Run.open(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds no gatecast run \(no run.json; it has notes"):
        Run.open(tmp_path)
    with pytest.raises(ConfigError, match="is a regular file"):
        Run.open(tmp_path / "notes.txt")
    (tmp_path / RUN_RECORD).write_text('{"kind": "lunch"}')
    with pytest.raises(ConfigError, match="not a readable run record"):
        Run.open(tmp_path)
    (tmp_path / RUN_RECORD).write_text('{"kind": "evaluate", "format_version": 9}')
    with pytest.raises(ConfigError, match="format_version 9; this gatecast reads 1 to 1"):
        Run.open(tmp_path)


def test_an_unfinished_run_says_so_and_its_missing_tables_are_named(tmp_path: Path) -> None:
    from gatecast.experiment.run_folder import write_run_record

    write_run_record(tmp_path, "evaluate", "running", {"data": "sp500"})
    run = Run.open(tmp_path)
    assert run.status == "running"
    with pytest.raises(ConfigError, match=r"leaderboard.csv is missing: .* was not finished"):
        run.table()
    with pytest.raises(ConfigError, match="has no table 'pbo'; it has leaderboard, forecasts"):
        run.table("pbo")

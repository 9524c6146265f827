"""`gatecast sweep` end to end on synthetic prices: the tables it prints, the files it writes, and
one-line errors for a parameter the model does not have."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11

runner = CliRunner()


def _prices(tmp_path: Path) -> tuple[str, pd.DatetimeIndex]:
    df = garch11(650, seed=5)[["close"]]
    df.index.name = "date"
    path = tmp_path / "p.csv"
    df.to_csv(path)
    return str(path), df.index


def test_sweep_prints_selection_and_test_and_writes_the_registry(tmp_path: Path) -> None:
    data, idx = _prices(tmp_path)
    out = tmp_path / "run"
    args = [
        "sweep", "--out", str(out), "--data", data,
        "--test-start", str(idx[560].date()), "--select-start", str(idx[420].date()),
        "--refit-every", "70", "--grid", "window=4,8", "--grid", "cell=gru",
        "--set", "epochs=2 warm_epochs=1 hidden=4", "--executor", "serial",
    ]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "selection" in res.output and "for the record" not in res.output
    assert "DSR/PBO count N = 2" in res.output
    summary = json.loads((out / "sweep_summary.json").read_text())
    selection = pd.read_csv(out / "selection.csv", index_col=0)
    best = selection["select_mean"].idxmin()
    assert summary["selected"] == {"window": int(selection.loc[best, "window"]), "cell": "gru"}
    assert f"selected: window={summary['selected']['window']} cell=gru" in res.output
    # rerun: refused without --resume; with it, every trial is read back from the folder
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "holds a finished sweep run" in refused.output and "--resume" in refused.output
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert "(3 read back" in again.output


def test_an_unknown_parameter_is_one_line_listing_the_valid_ones(tmp_path: Path) -> None:
    res = runner.invoke(app, ["sweep", "--out", str(tmp_path / "r"), "--grid", "windows=5,22"])
    assert res.exit_code == 2
    assert "'windows' is not a parameter of the recurrent variance model" in res.output
    assert "window" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["sweep", "--out", str(tmp_path / "r"), "--set", "hidden=4,8"])
    assert res.exit_code == 2
    assert "--set hidden has several values; sweep it with --grid" in res.output

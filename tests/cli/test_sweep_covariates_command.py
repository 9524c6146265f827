"""`gatecast sweep --covariates` on the command line: the note of the rows left out, the model that
was chosen with the groups it reads, and one-line refusals before any fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11

runner = CliRunner()


def _files(tmp_path: Path) -> tuple[str, str, pd.DatetimeIndex]:
    """A price file, the spec of a covariate file that starts on its 20th row, and the dates."""
    df = garch11(480, seed=5)[["close"]]
    df.index.name = "date"
    df.to_csv(tmp_path / "p.csv")
    days = df.index[20:]
    level = np.random.default_rng(2).standard_normal(len(days)).cumsum()
    pd.DataFrame({"Date": days, "Level": level}).to_csv(tmp_path / "m.csv", index=False)
    return str(tmp_path / "p.csv"), f"file:{tmp_path / 'm.csv'}:level", df.index


def test_sweep_with_covariates_says_what_it_joined_and_what_it_chose(tmp_path: Path) -> None:
    data, spec, idx = _files(tmp_path)
    out = tmp_path / "run"
    args = [
        "sweep", "--out", str(out), "--data", data, "--covariates", spec,
        "--test-start", str(idx[400].date()), "--select-start", str(idx[320].date()),
        "--refit-every", "40", "--grid", "window=5", "--baselines", "har,har_x",
        "--set", "epochs=1 warm_epochs=1 hidden=4", "--executor", "serial",
    ]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "the 20 rows of" in res.output and "were left out" in res.output
    assert f"selected: window=5 (lstm+{spec})" in " ".join(res.output.split())
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["covariates"] == [spec]
    assert run["config"]["baselines"] == ["har", f"har_x+{spec}"]


def test_covariates_that_do_not_fit_are_one_line_before_any_fit(tmp_path: Path) -> None:
    data, spec, idx = _files(tmp_path)
    base = ["sweep", "--data", data, "--executor", "serial", "--grid", "window=5"]
    cases = {
        "covariate 'vxx' is unknown": ["--covariates", "vxx"],
        "m_level is not a group of --covariates": [
            "--covariates", spec, "--grid", "covariates=none,m_level"
        ],
        "covariates are not set per configuration": ["--covariates", spec, "--set", "covariates=x"],
        "baseline har_x reads covariates": ["--baselines", "har_x"],
        f"data joined with --covariates {spec} begins on {idx[20].date()}": [
            "--covariates", spec, "--test-start", str(idx[400].date()),
            "--select-start", str(idx[10].date()),
        ],
    }  # fmt: skip
    for i, (message, extra) in enumerate(cases.items()):
        out = tmp_path / f"r{i}"
        res = runner.invoke(app, [*base, "--out", str(out), *extra])
        assert res.exit_code == 2, res.output
        assert message in " ".join(res.output.split()) and "Traceback" not in res.output
        assert not out.exists()

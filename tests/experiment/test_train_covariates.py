"""One series with a covariate: `gatecast train --covariates vix` -> `predict` -> `stream`, the
folder recording the group, predict joining it, a stream's rows carrying ``vix_log``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.data.covariates import join_covariates

runner = CliRunner()


def test_train_predict_and_stream_with_a_covariate(tmp_path: Path, train_on_spx) -> None:
    data, model = train_on_spx("vix")
    manifest = json.loads((model / "manifest.json").read_text())
    assert (manifest["covariate_groups"], manifest["covariates"]) == (["vix"], ["vix_log"])
    res = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "p")]
    )
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "p", parse_dates=["date"])
    # the stream over the joined rows: the forecast after the last row is predict's last
    joined, _ = join_covariates(gc.load(str(data)), ["vix"])
    cols = ["open", "high", "low", "close", "vix_log"]
    text = (
        "date,"
        + ",".join(cols)
        + "\n"
        + "".join(
            f"{d:%Y-%m-%d}," + ",".join(repr(float(r[c])) for c in cols) + "\n"
            for d, r in joined.iterrows()
        )
    )
    res = runner.invoke(app, ["stream", "--model", str(model)], input=text)
    assert res.exit_code == 0, res.output
    last = [ln for ln in res.stdout.splitlines() if ln[:1].isdigit()][-1].split(",")
    assert float(last[1]) == pytest.approx(pred["forecast"].iloc[-1], rel=1e-6)
    # --steps would need the covariate's future values
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(model),
            "--data",
            str(data),
            "--steps",
            "3",
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert res.exit_code == 2 and "--steps does not apply" in res.output

"""`gatecast evaluate` on a panel with `--seeds K --ensemble` (each recurrent model scored on
its seeds' mean forecast) and with the lanes of sequence mode (`--chunks`, `--chunk-len`,
`--burn-in`): the run folder, what is printed, and the refusals (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.evaluation.losses import qlike_loss
from gatecast.experiment.run_reader import Run

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--n-jobs", "1"]


# 300 business days, 260 rows before the test: one instrument alone is too short for 32 lanes
# past a burn-in of 10 (about 7 training steps each), long enough for 4
DAYS, SEED = 300, 1


def _evaluate(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--test-start", "2010-12-31"]
    return runner.invoke(app, [*args, "--out", str(out), *extra, *TINY])


def test_a_seed_ensemble_on_a_panel_end_to_end(tmp_path: Path, panel_csv) -> None:
    csv, out = panel_csv(DAYS, SEED), tmp_path / "run"
    res = _evaluate(
        csv, out, "--models", "lstm,garch", "--seeds", "2", "--ensemble", "--refit-every", "60"
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "the QLIKE of its 2 seeds' mean forecast" in text and "seed spread" in text
    run = Run.open(out)
    table = run.table("per_instrument").set_index(["instrument", "model"])
    fc = run.table("forecasts")
    for name, own in fc.groupby("instrument"):
        own = own.dropna(subset=["lstm[s0]", "lstm[s1]", "garch"])
        # forecasts.parquet's lstm is the seeds' mean: the ensemble scored (rel 1e-9)
        mean = (own["lstm[s0]"].to_numpy() + own["lstm[s1]"].to_numpy()) / 2
        assert own["lstm"].to_numpy() == pytest.approx(mean, rel=1e-12)
        want = qlike_loss(own["actual"].to_numpy(), mean).mean()
        assert table.loc[(name, "lstm"), "qlike"] == pytest.approx(want, rel=1e-9)
    assert list(run.table("seeds").index) == [("lstm", 0), ("lstm", 1)]


def test_sequence_lanes_on_a_panel(tmp_path: Path, panel_csv) -> None:
    csv, out = panel_csv(DAYS, SEED, names="AAA"), tmp_path / "run"
    base = ["--models", "lstm,garch", "--mode", "sequence", "--refit-every", "200"]
    res = _evaluate(csv, out, *base, "--overwrite")
    assert res.exit_code == 2, res.output  # the default 32 lanes: no step past the burn-in
    assert "no training step lies past the burn-in" in " ".join(res.output.split())
    res = _evaluate(csv, out, *base, "--chunks", "4", "--chunk-len", "8", "--overwrite")
    assert res.exit_code == 0, res.output
    config = Run.open(out).config
    assert (config["chunks"], config["chunk_len"], config["burn_in"]) == (4, 8, None)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--models", "lstm,garch", "--chunks", "4"], "--chunks set(s) the lanes of sequence"),
        (
            ["--models", "lstm,garch", "--burn-in", "2", "--chunk-len", "8"],
            "--chunk-len, --burn-in set(s) the lanes of sequence mode (truncated BPTT); add "
            "--mode sequence",
        ),
        (["--models", "lstm,garch", "--ensemble"], "--ensemble averages a recurrent model's"),
    ],
    ids=["chunks", "chunk-len+burn-in", "ensemble-one-seed"],
)
def test_refused_on_a_panel(
    tmp_path: Path, panel_csv, refused, extra: list[str], message: str
) -> None:
    refused(_evaluate(panel_csv(DAYS, SEED), tmp_path / "run", *extra), message, tmp_path / "run")


def test_lanes_without_sequence_mode_are_refused_on_one_series(
    tmp_path: Path, panel_csv, refused
) -> None:
    csv = panel_csv(DAYS, SEED)
    one = pd.read_csv(csv).query("ticker == 'AAA'").drop(columns="ticker")
    one.to_csv(tmp_path / "one.csv", index=False)
    args = ["evaluate", "--data", str(tmp_path / "one.csv"), "--target", "return"]
    res = runner.invoke(app, [*args, "--chunks", "4", "--out", str(tmp_path / "run")])
    refused(res, "--chunks set(s) the lanes of sequence mode", tmp_path / "run")


def test_lanes_reach_the_recurrent_models_of_one_series() -> None:
    """On one series, `--mode sequence --chunks 4` reaches each recurrent model (as `extra`)."""
    from gatecast.cli.options import lane_values
    from gatecast.experiment.evaluation_config import EvaluationConfig, model_factory

    params = {"mode": "sequence", "chunks": 4, "chunk_len": None, "burn_in": 3}
    lanes = lane_values(params)
    assert lanes == {"chunks": 4, "burn_in": 3}
    cfg = EvaluationConfig(target="return", models=("lstm", "ar1"), mode="sequence", extra=lanes)
    got = model_factory("lstm", cfg)().get_params()
    assert (got["mode"], got["chunks"], got["burn_in"], got["chunk_len"]) == ("sequence", 4, 3, 16)

"""`gatecast evaluate --panel --mode sequence`: the global model walked in sequence mode end to
end into a run folder that records the mode; a local variance model is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()


def _evaluate(csv: Path, out: Path, models: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--models", models, "--mode", "sequence"]
    args += ["--test-start", "2011-07-01", "--out", str(out), "--hidden", "4", "--epochs", "1"]
    args += ["--warm-epochs", "1", "--refit-every", "40"]
    return runner.invoke(app, args)


def test_a_panel_evaluates_in_sequence_mode_end_to_end(tmp_path: Path, panel_csv) -> None:
    # two instruments, 460 business days (long enough for 32 lanes past the burn-in)
    csv, out = panel_csv(460), tmp_path / "run"
    res = _evaluate(csv, out, "lstm,gjr_t")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-evaluate", "finished")
    assert run.config["mode"] == "sequence"
    # the folds are bound to a sequence-mode global model
    plan = json.loads((out / "folds" / "plan.json").read_text())
    assert plan["models"]["lstm"]["params"]["mode"] == "sequence"
    fc = run.table("forecasts")
    assert fc["lstm"].notna().all() and (fc["lstm"] > 0).all()


def test_a_local_variance_model_is_refused_in_sequence_mode(
    tmp_path: Path, panel_csv, refused
) -> None:
    out = tmp_path / "run"
    res = _evaluate(panel_csv(460), out, "lstm_local,gjr_t")
    said = "'lstm_local' is a RecurrentVariance per instrument, which has window mode only"
    refused(res, said, out)


def test_gatecast_train_fits_a_sequence_mode_global_model_of_each_target(
    tmp_path: Path, panel_csv
) -> None:
    csv = panel_csv(460)
    tiny = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet", "--chunks", "8"]
    for target, kind in (("variance", "global_variance"), ("return", "global_return")):
        out = tmp_path / target
        args = ["train", "--data", str(csv), "--panel", "--target", target, "--mode", "sequence"]
        res = runner.invoke(app, [*args, "--out", str(out), *tiny])
        assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
        manifest = json.loads((out / "manifest.json").read_text())
        assert (manifest["kind"], manifest["mode"]) == (kind, "sequence")
        assert manifest["config"]["chunks"] == 8
        config = json.loads((out / "config.json").read_text())
        assert (config["mode"], config["chunks"]) == ("sequence", 8)

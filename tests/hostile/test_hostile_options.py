"""Options a careless user gives: an option the run does not use, a NaN or infinite number, a
value refused only after the models were fitted (a partial run folder), and an --out that
holds an earlier run. Each case is refused with one message, exit code 2 and nothing in --out;
an earlier run is replaced only with --overwrite and continued only with --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gatecast.errors import ConfigError
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models
from gatecast.experiment.run_folder import RUN_RECORD, run_output

from .corpus import TINY, accepted, invoke, prices_frame, refused, write_csv

CHEAP = ["--n-jobs", "1", "--quiet", "--test-start", "2020-01-01", "--refit-every", "50"]


@pytest.fixture(scope="module")
def long_csv(corpus_dir: Path) -> Path:
    """Enough rows for a walk-forward (250 training rows) with High/Low."""
    return write_csv(corpus_dir / "long.csv", prices_frame(300, seed=1))


# -- an option the run does not use is refused, never ignored -------------------------------------
@pytest.mark.parametrize(
    "options, phrase",
    [
        (
            ["--target", "variance", "--simple"],
            "log (--simple) does not apply to target 'variance'",
        ),
        (["--target", "variance", "--no-anchored"], "anchored (--anchored/--no-anchored) does not"),
        (["--target", "return", "--no-anchored"], "anchored (--anchored/--no-anchored) does not"),
        (["--target", "return", "--proxy", "parkinson"], "proxy (--proxy) does not apply"),
        (["--target", "return", "--proxy", "squared"], "proxy (--proxy) does not apply"),
        (["--target", "direction", "--train-proxy", "squared"], "train_proxy (--train-proxy)"),
        (["--target", "return", "--chunks", "4"], "chunks set(s) the lanes of sequence mode"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_train_refuses_an_option_its_target_ignores(
    good_csv: Path, tmp_path: Path, options: list[str], phrase: str
) -> None:
    out = tmp_path / "run"
    refused(invoke(["train", "--data", good_csv, "--out", out, *TINY, *options]), phrase, out=out)
    assert not out.exists()


@pytest.mark.parametrize(
    "options, phrase",
    [
        (["--target", "return", "--models", "no_change,ar1", "--proxy", "squared"], "--proxy does"),
        (["--target", "return", "--models", "ar1", "--hidden", "8"], "--hidden does not apply"),
        (["--target", "return", "--models", "ar1", "--window", "22"], "--window does not apply"),
        (["--models", "garch", "--interval-scale", "gjr_t"], "--interval-scale does not apply"),
        (["--models", "garch", "--train-size", "100"], "train_size=100 is the length of a rolling"),
        (["--target", "return", "--models", "lstm", "--ensemble"], "--ensemble does not apply"),
    ],
    ids=["proxy", "hidden", "window", "interval-scale", "train-size", "ensemble"],
)
def test_evaluate_refuses_an_option_its_models_ignore(
    long_csv: Path, tmp_path: Path, options: list[str], phrase: str
) -> None:
    out = tmp_path / "run"
    args = ["evaluate", "--data", long_csv, "--out", out, *CHEAP, *options]
    refused(invoke(args), phrase, "leave it out", out=out)


def test_the_python_api_refuses_a_setting_the_evaluation_ignores() -> None:
    cfg = EvaluationConfig(target="return", models=("ar1",), proxy="parkinson")
    with pytest.raises(Exception, match="--proxy does not apply here"):
        evaluate_models(cfg)


def test_evaluate_gives_return_models_the_return_window(long_csv: Path, tmp_path: Path) -> None:
    """`evaluate --target return` passed the variance default (5) as the LSTM's window, not the
    documented 22 of return and direction models."""
    out = tmp_path / "run"
    args = ["evaluate", "--data", long_csv, "--out", out, *CHEAP, "--target", "return"]
    args += ["--models", "lstm,no_change", "--recurrent-epochs", "1", "--hidden", "2"]
    accepted(invoke(args))
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["window"] == 22


@pytest.mark.parametrize(
    "command, phrase",
    [
        (["var", "--models", "garch", "--epochs", "3"], "--epochs does not apply here"),
        (["var", "--models", "garch", "--sims", "0"], "sims=0: must be an integer >= 20"),
        (["var", "--models", "garch", "--level", "nan"], "level=nan"),
        (["sweep", "--grid", "window=3", "--target", "return", "--proxy", "squared"], "--proxy"),
        (["sweep", "--grid", "window=3", "--executor", "serial", "--n-jobs", "2"], "--n-jobs"),
        (["sweep", "--grid", "window=3", "--trials", "3"], "--trials counts the configurations"),
        (["train", *TINY, "--clip", "nan"], "clip=nan: must be a finite number >= 0"),
        (["train", *TINY, "--lr", "inf"], "lr=inf: must be a finite number > 0"),
        (["train", *TINY, "--test-size", "inf"], "test_size=inf: must be a finite number > 0"),
        (["train", *TINY, "--seed", "-1"], "seed=-1: must be an integer >= 0"),
    ],
    ids=lambda v: " ".join(v[:2] + v[-2:]) if isinstance(v, list) else None,
)
def test_numbers_and_options_that_do_not_apply_are_refused_before_any_work(
    long_csv: Path, tmp_path: Path, command: list[str], phrase: str
) -> None:
    out = tmp_path / "run"
    refused(invoke([command[0], "--data", long_csv, "--out", out, *command[1:]]), phrase, out=out)
    assert not out.exists()


# -- a value found wrong only after the models were fitted left a partial folder ------------------
def test_evaluate_checks_the_interval_scale_before_any_fold(long_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["evaluate", "--data", long_csv, "--out", out, *CHEAP, "--target", "return"]
    args += ["--models", "no_change,ar1", "--intervals", "0.9", "--interval-scale", "foo"]
    refused(invoke(args), "--interval-scale 'foo' is not a variance model", out=out)
    assert not out.exists()


def test_var_checks_the_test_period_before_any_fold(long_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["var", "--data", long_csv, "--out", out, "--models", "garch", "--n-jobs", "1"]
    args += ["--test-start", "2030-01-01", "--calibration", "60", "--quiet"]
    refused(invoke(args), "no dates between test_start 2030-01-01", out=out)
    assert not out.exists()


@pytest.mark.parametrize(
    "grid, phrase",
    [
        ("window=0,5", "window=0: must be >= 1"),
        ("lr=nan", "lr=nan: must be a finite number > 0"),
        ("cell=foo", "cell='foo' is not a recurrent model"),
    ],
)
def test_sweep_checks_every_configuration_before_writing(
    tmp_path: Path, grid: str, phrase: str
) -> None:
    out = tmp_path / "run"
    data = write_csv(tmp_path / "p.csv", prices_frame(600, seed=2))
    args = ["sweep", "--data", data, "--out", out, "--grid", grid, "--set", "epochs=1"]
    args += ["--test-start", "2021-01-04", "--select-start", "2020-10-01", "--executor", "serial"]
    refused(invoke(args), phrase, out=out)
    assert not out.exists()


def test_evaluate_refuses_constant_prices_before_any_fold(tmp_path: Path) -> None:
    frame = prices_frame(300, seed=1)
    frame[["open", "high", "low", "close"]] = 100.0
    data = write_csv(tmp_path / "flat.csv", frame)
    out = tmp_path / "run"
    args = ["evaluate", "--data", data, "--out", out, *CHEAP, "--models", "har,ewma"]
    refused(invoke(args), "'close'", "before the test is constant (100.0)", out=out)
    assert not out.exists()


def test_evaluate_refuses_high_below_low_before_any_fold(tmp_path: Path) -> None:
    frame = prices_frame(300, seed=1)
    high, low = float(frame.loc[290, "high"]), float(frame.loc[290, "low"])
    frame.loc[290, "high"], frame.loc[290, "low"] = low, high  # in the test period
    data = write_csv(tmp_path / "hl.csv", frame)
    out = tmp_path / "run"
    args = ["evaluate", "--data", data, "--out", out, *CHEAP, "--models", "har"]
    refused(invoke(args), f"high < low on {frame.loc[290, 'date']} (1 row(s))", out=out)
    assert not out.exists()


def test_a_run_refused_in_the_middle_leaves_nothing(tmp_path: Path) -> None:
    """A refusal after the first files were written (a model that fails a later fold) removes
    the folder the run made; a resumed run keeps what it had, its record as it was."""
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="fold 3"):
        with run_output(out, "evaluate") as folder:
            (folder / "folds").mkdir()
            (folder / "folds" / "fold_0.json").write_text("{}")
            raise ConfigError("fold 3 refused")
    assert not out.exists()
    with run_output(out, "evaluate") as folder:
        (folder / "kept.txt").write_text("a finished run")
    before = (out / RUN_RECORD).read_text()
    with pytest.raises(ConfigError):
        with run_output(out, "evaluate", resume=True) as folder:
            (folder / "folds").mkdir()
            raise ConfigError("refused on resume")
    assert sorted(p.name for p in out.iterdir()) == ["folds", "kept.txt", RUN_RECORD]
    assert (out / RUN_RECORD).read_text() == before
    with pytest.raises(KeyboardInterrupt):  # killed or interrupted: kept, to be resumed
        with run_output(out, "evaluate", overwrite=True) as folder:
            (folder / "fold_0.json").write_text("{}")
            raise KeyboardInterrupt
    assert json.loads((out / RUN_RECORD).read_text())["status"] == "running"
    assert sorted(p.name for p in out.iterdir()) == ["fold_0.json", RUN_RECORD]


# -- an existing --out ----------------------------------------------------------------------------
def test_an_earlier_evaluate_run_needs_overwrite_or_resume(long_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["evaluate", "--data", long_csv, "--out", out, *CHEAP, "--models", "garch,ewma"]
    accepted(invoke(args))
    record = json.loads((out / RUN_RECORD).read_text())
    assert (record["kind"], record["status"]) == ("evaluate", "finished")
    assert record["config"]["models"] == ["garch", "ewma"]
    board = (out / "leaderboard.csv").read_bytes()
    refused(invoke(args), "holds a finished evaluate run", "pass --resume to continue it")
    assert (out / "leaderboard.csv").read_bytes() == board
    refused(invoke([*args, "--resume", "--overwrite"]), "pass one")
    # --resume reuses every fold (the same numbers), --overwrite starts afresh
    (out / "stale.txt").write_text("left by hand")
    accepted(invoke([*args, "--resume"]))
    assert (out / "stale.txt").exists()
    assert (out / "leaderboard.csv").read_bytes() == board
    accepted(invoke([*args, "--overwrite"]))
    assert not (out / "stale.txt").exists()
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "leaderboard.csv"), pd.read_csv(pd.io.common.BytesIO(board))
    )


def test_resume_refuses_another_kind_of_run_and_a_missing_folder(
    long_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["var", "--data", long_csv, "--models", "garch", "--n-jobs", "1", "--quiet"]
    args += ["--test-start", "2020-01-01", "--calibration", "60", "--refit-every", "50"]
    refused(invoke([*args, "--out", out, "--resume"]), "there is no run to resume")
    accepted(invoke(["evaluate", "--data", long_csv, "--out", out, *CHEAP, "--models", "garch"]))
    refused(invoke([*args, "--out", out, "--resume"]), "not a var run")
    assert json.loads((out / RUN_RECORD).read_text())["kind"] == "evaluate"


def test_evaluate_never_writes_into_a_folder_of_other_files(long_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for flag in ([], ["--overwrite"], ["--resume"]):
        args = ["evaluate", "--data", long_csv, "--out", out, *CHEAP, "--models", "garch", *flag]
        refused(invoke(args), "holds files that are not a gatecast run (keep.txt)")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

"""Outputs are all-or-nothing: `train` into a temporary folder renamed into place, `predict` never
over its inputs, `evaluate` checked before it writes, a plan-only folder reusable, the umask."""

from __future__ import annotations

import functools
import json
import os
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.experiment.run_folder import staged_folder
from gatecast.models.volatility import HistoricalVariance

from .corpus import TINY, accepted, invoke, prices_frame, refused, write_csv


@pytest.fixture(scope="module")
def long_csv(corpus_dir: Path) -> Path:
    """Enough rows for a walk-forward (250 training rows) with High/Low."""
    return write_csv(corpus_dir / "long.csv", prices_frame(300, seed=1))


@pytest.fixture(scope="module")
def close_only_csv(corpus_dir: Path) -> Path:
    return write_csv(corpus_dir / "close.csv", prices_frame(300, seed=1)[["date", "close"]])


# -- train ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_train_never_writes_into_a_folder_of_other_files(
    tmp_path: Path, good_csv: Path, overwrite: list[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "config.json").write_text("{}")  # a name a run writes, but no run
    result = invoke(["train", "--data", good_csv, "--out", out, *TINY, *overwrite])
    refused(result, "already holds files that are not a gatecast run (config.json, notes.txt)")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]


def test_train_refuses_an_out_that_is_a_file(tmp_path: Path, good_csv: Path) -> None:
    (tmp_path / "run").write_text("x")
    refused(
        invoke(["train", "--data", good_csv, "--out", tmp_path / "run", "--overwrite", *TINY]),
        "is a regular file, not a folder",
    )
    assert (tmp_path / "run").read_text() == "x"


def test_overwrite_replaces_the_whole_run(tmp_path: Path, good_csv: Path) -> None:
    out = tmp_path / "run"
    accepted(invoke(["train", "--data", good_csv, "--out", out, *TINY, "--seed", "1"]))
    (out / "stale.txt").write_text("old")
    refused(invoke(["train", "--data", good_csv, "--out", out, *TINY]), "--overwrite")
    accepted(invoke(["train", "--data", good_csv, "--out", out, "--overwrite", *TINY]))
    names = {p.name for p in out.iterdir()}
    assert "stale.txt" not in names and {"manifest.json", "config.json", "run.json"} <= names
    assert json.loads((out / "config.json").read_text())["seed"] == 0
    record = json.loads((out / "run.json").read_text())
    assert (record["kind"], record["status"], record["config"]["seed"]) == ("train", "finished", 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary folder left


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe"


def _device(tmp_path: Path) -> Path:
    return Path(os.devnull)


@pytest.mark.parametrize("make", [_fifo, _device], ids=["fifo", "dev-null"])
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--overwrite", *TINY],
        ["evaluate", "--target", "return", "--models", "no_change", "--overwrite"],
        ["var", "--models", "garch", "--overwrite"],
        ["demo", "--quick", "--overwrite"],
        ["gradient-flow", "--steps", "3", "--overwrite"],
        ["sweep", "--grid", "window=3", "--overwrite"],
    ],
    ids=lambda c: c[0],
)
def test_an_out_that_is_a_device_or_a_fifo_is_refused_and_left_alone(
    tmp_path: Path, good_csv: Path, make: Any, command: list[str]
) -> None:
    """The atomic rename of a run over /dev/null (as root) replaced the device with a file."""
    target = make(tmp_path)
    kind = stat.S_IFMT(target.stat().st_mode)
    data = [] if command[0] in ("demo", "gradient-flow") else ["--data", good_csv]
    result = invoke([command[0], *data, "--out", target, *command[1:]])
    refused(result, f"--out {target} is a", "not a folder")
    assert stat.S_IFMT(target.stat().st_mode) == kind


@pytest.mark.parametrize("make", [_fifo, _device], ids=["fifo", "dev-null"])
def test_predict_never_replaces_a_device_or_a_fifo(
    model_dir: Path, good_csv: Path, tmp_path: Path, make: Any
) -> None:
    target = make(tmp_path)
    kind = stat.S_IFMT(target.stat().st_mode)
    result = invoke(
        ["predict", "--model", model_dir, "--data", good_csv, "--out", target, "--overwrite"]
    )
    refused(result, f"{target} is a", "not a regular file")
    assert stat.S_IFMT(target.stat().st_mode) == kind


def test_predict_replaces_an_existing_file_only_with_overwrite(
    model_dir: Path, good_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.csv"
    out.write_text("mine")
    args = ["predict", "--model", model_dir, "--data", good_csv, "--out", out]
    refused(invoke(args), f"--out {out} already exists; pass --overwrite")
    assert out.read_text() == "mine"
    accepted(invoke([*args, "--overwrite"]))
    assert out.read_text().startswith("date,actual,forecast")


def test_demo_replaces_an_earlier_run_only_with_overwrite(tmp_path: Path) -> None:
    """`demo --out` overwrote an existing run without --overwrite."""
    out = tmp_path / "demo"
    out.mkdir()
    (out / "metrics.json").write_text('{"verdict": "an earlier demo"}')
    refused(
        invoke(["demo", "--quick", "--out", out]), "holds a finished earlier run", "--overwrite"
    )
    assert "an earlier demo" in (out / "metrics.json").read_text()


def test_two_runs_into_one_folder_never_mix(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with staged_folder(out, overwrite=True) as first:  # both start while the folder is empty
        (first / "a").write_text("first")
        with staged_folder(out, overwrite=True) as second:
            (second / "b").write_text("second")
        # the second finished first and took the folder; the first replaces it whole
    assert sorted(p.name for p in out.iterdir()) == ["a", "run.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_the_later_of_two_runs_is_refused_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="was filled by another run while this one trained"):
        with staged_folder(out) as first:
            (first / "a").write_text("first")
            with staged_folder(out) as second:
                (second / "b").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b", "run.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failed_run_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="killed"):
        with staged_folder(out) as tmp:
            (tmp / "model.safetensors").write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_honour_the_umask(tmp_path: Path, good_csv: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "run"
        accepted(invoke(["train", "--data", good_csv, "--out", out, *TINY]))
        pred = tmp_path / "p.csv"
        accepted(invoke(["predict", "--model", out, "--data", good_csv, "--out", pred]))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    for path in [*out.iterdir(), pred]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_outliers_let_through_are_recorded(tmp_path: Path) -> None:
    frame = prices_frame(80)
    frame.loc[70, "close"] = 1e6
    data = write_csv(tmp_path / "p.csv", frame)
    out = tmp_path / "run"
    result = invoke(["train", "--data", data, "--out", out, "--allow-outliers", *TINY])
    accepted(result)
    kept = [[frame.loc[70, "date"], 1e6]]
    assert json.loads((out / "manifest.json").read_text())["outliers"] == kept
    assert json.loads((out / "config.json").read_text())["allow_outliers"] is True
    assert "kept 1 absurd price(s)" in " ".join(
        json.loads((out / "metrics.json").read_text())["notes"]
    )


# -- predict --------------------------------------------------------------------------------------


def test_predict_never_writes_over_its_data(model_dir: Path, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "p.csv", prices_frame())
    before = data.read_bytes()
    refused(
        invoke(["predict", "--model", model_dir, "--data", data, "--out", data]),
        "would overwrite --data",
    )
    assert data.read_bytes() == before


def test_predict_never_writes_into_its_model(model_dir: Path, good_csv: Path) -> None:
    before = (model_dir / "manifest.json").read_bytes()
    refused(
        invoke(
            [
                "predict",
                "--model",
                model_dir,
                "--data",
                good_csv,
                "--out",
                model_dir / "manifest.json",
            ]
        ),
        "would overwrite --model",
    )
    assert (model_dir / "manifest.json").read_bytes() == before


def test_predict_reads_dates_as_meant(model_dir: Path, tmp_path: Path) -> None:
    frame = prices_frame()
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%d/%m/%Y")
    data = write_csv(tmp_path / "dmy.csv", frame)
    out = tmp_path / "p.csv"
    accepted(invoke(["predict", "--model", model_dir, "--data", data, "--out", out]))
    iso = write_csv(tmp_path / "iso.csv", prices_frame())
    accepted(invoke(["predict", "--model", model_dir, "--data", iso, "--out", tmp_path / "q.csv"]))
    assert (tmp_path / "p.csv").read_text() == (tmp_path / "q.csv").read_text()


@pytest.mark.parametrize(
    "column, value, rows, phrases",
    [
        ("close", "x", 1, ["'x' on 2019-03-01 is not a number"]),
        ("close", "x", 160, ["holds text such as 'x'"]),
        ("close", 1e300, 1, ["is 1e+300 on 2019-03-01", "--allow-outliers"]),
        ("close", 1e300, 117, ["is 1e+300 on 2019-03-01", "--allow-outliers"]),
        ("close", -1.0, 1, ["is -1 on 2019-03-01"]),
        ("date", "01/02/2019", 1, ["cannot parse '01/02/2019'"]),
    ],
    ids=[
        "a word for a price",
        "text prices",
        "a price of 1e300",
        "prices 1e300 from a date on",
        "a negative price",
        "a slashed date among ISO",
    ],
)
def test_predict_refuses_hostile_data(model_dir, tmp_path, column, value, rows, phrases) -> None:
    frame = prices_frame().astype({"close": object})
    first = 43 if rows < 160 else 0
    frame.loc[first : first + rows - 1, column] = value
    data = write_csv(tmp_path / "p.csv", frame)
    out = tmp_path / "out" / "p.csv"
    result = invoke(["predict", "--model", model_dir, "--data", data, "--out", out])
    refused(result, *phrases, out=out.parent)


# -- evaluate -------------------------------------------------------------------------------------

CHEAP = ["--models", "no_change,historical_mean", "--n-jobs", "1", "--quiet"]
CHEAP += ["--test-start", "2020-01-01", "--refit-every", "10"]


@pytest.mark.parametrize(
    "options, phrases",
    [
        (["--models", "har_daily"], ["har_daily need(s) High and Low columns", "lacks"]),
        (["--proxy", "parkinson"], ["the parkinson proxy need(s) High and Low"]),
        (["--refit-every", "0"], ["refit_every=0"]),
        (["--test-start", "2031-01-01"], ["no dates between test_start 2031-01-01"]),
        (["--models", "garch,nope"], ["nope"]),
        (["--seeds", "0"], ["seeds=0"]),
    ],
    ids=[
        "range har without high-low",
        "parkinson without high-low",
        "refit every 0",
        "test after data",
        "unknown model",
        "no seeds",
    ],
)
def test_evaluate_refuses_before_writing(close_only_csv, tmp_path, options, phrases) -> None:
    out = tmp_path / "run"
    result = invoke(["evaluate", "--data", close_only_csv, "--out", out, *CHEAP, *options])
    refused(result, *phrases, out=out)
    assert not out.exists()


def test_evaluate_refuses_a_recurrent_setting_before_any_fold(long_csv, tmp_path) -> None:
    out = tmp_path / "run"
    options = ["--models", "lstm,no_change", "--hidden", "0"]
    refused(
        invoke(["evaluate", "--data", long_csv, "--out", out, *CHEAP[2:], *options]),
        "hidden=0",
        out=out,
    )


def test_evaluate_refuses_an_out_that_is_a_file(long_csv: Path, tmp_path: Path) -> None:
    (tmp_path / "run").write_text("x")
    refused(
        invoke(["evaluate", "--data", long_csv, "--out", tmp_path / "run", *CHEAP]),
        "is a regular file, not a folder",
    )


def test_evaluate_refuses_absurd_prices(tmp_path: Path) -> None:
    frame = prices_frame(300, seed=1)
    frame.loc[280, "high"] = 1e9
    data = write_csv(tmp_path / "p.csv", frame)
    out = tmp_path / "run"
    refused(
        invoke(["evaluate", "--data", data, "--out", out, *CHEAP]),
        "column 'high'",
        f"is 1e+09 on {frame.loc[280, 'date']}",
        out=out,
    )


def test_a_plan_without_a_finished_fold_is_reused(long_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "folds").mkdir(parents=True)
    (out / "folds" / "plan.json").write_text('{"plan": "of a run killed before its first fold"}')
    args = ["evaluate", "--data", long_csv, "--out", out, *CHEAP]
    refused(invoke(args), "holds a finished earlier run", "pass --resume to continue it")
    accepted(invoke([*args, "--resume"]))
    assert (out / "metrics.json").is_file()
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_a_walk_forward_that_fails_leaves_no_plan(tmp_path: Path) -> None:
    frame = prices_frame(300, seed=1)
    data = pd.DataFrame(
        {"close": frame["close"].to_numpy()}, index=pd.DatetimeIndex(frame["date"], name="date")
    )
    plan = WalkForwardPlan("2020-01-01", refit_every=10)

    def broken() -> HistoricalVariance:
        return HistoricalVariance(window=-1)  # refused when fit, after the plan is written

    with pytest.raises(ConfigError, match=r"window=-1: must be >= 1"):
        walk_forward({"hv": broken}, data, plan, run_dir=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
    good = functools.partial(HistoricalVariance, 22)
    again = walk_forward({"hv": good}, data, plan, run_dir=tmp_path / "run", quiet=True)
    assert not again.folds["resumed"].any()

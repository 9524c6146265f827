"""The walk-forward run folder under failure: a crash mid-save, changed data, a damaged file, a lost
warm state; and the rows each fold's fit may see."""

from __future__ import annotations

import functools
import io
import json
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.executors import run_tasks
from gatecast.evaluation.walkforward import (
    WalkForwardPlan,
    discard_unfinished,
    model_identity,
    walk_forward,
)
from gatecast.models.volatility import HistoricalVariance

PLAN = WalkForwardPlan("2015-01-02", "2015-05-29", refit_every=21)


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2013":"2015-06"]


def models() -> dict:
    return {
        "hv": functools.partial(HistoricalVariance, 22),
        "mean": functools.partial(HistoricalVariance, None),
    }


class Seen(HistoricalVariance):
    """Records the first and last date of every history it is fit on."""

    fits: ClassVar[list[tuple[pd.Timestamp, pd.Timestamp, int]]] = []

    def fit(self, history: pd.DataFrame) -> Seen:
        Seen.fits.append((history.index[0], history.index[-1], len(history)))
        return super().fit(history)


@pytest.mark.parametrize(
    "plan",
    [
        WalkForwardPlan("2015-01-02", "2015-05-29", refit_every=21),
        WalkForwardPlan("2015-01-02", "2015-05-29", refit_every=30, gap=5),
        WalkForwardPlan(
            "2015-01-02", "2015-05-29", refit_every=21, scheme="rolling", train_size=300, gap=2
        ),
    ],
    ids=["expanding", "expanding-gap", "rolling-gap"],
)
def test_each_fold_is_fit_on_its_training_rows_only(spx: pd.DataFrame, plan) -> None:
    Seen.fits.clear()
    res = walk_forward({"seen": functools.partial(Seen, None)}, spx, plan, quiet=True)
    idx = spx.index
    folds = plan.folds(idx)
    assert len(Seen.fits) == len(folds) == res.folds.shape[0]
    for (first, last, n), fold in zip(Seen.fits, folds, strict=True):
        assert first == idx[fold.train_start] and last == idx[fold.train_stop - 1]
        assert n == fold.train_stop - fold.train_start
        # the gap: rows between the last training row and the first test date
        assert (
            idx.get_loc(res.folds.loc[fold.number, "test_start"]) - idx.get_loc(last)
            == plan.gap + 1
        )
        if plan.scheme == "rolling":
            assert n == plan.train_size
        else:
            assert first == idx[0]
    # the forecasts cover every test date once, in order
    test = spx.loc["2015-01-02":"2015-05-29"].index
    assert res.forecasts.index.equals(test)


def test_resuming_on_changed_data_is_refused(spx: pd.DataFrame, tmp_path: Path) -> None:
    walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)
    changed = spx.copy()
    changed.iloc[10, changed.columns.get_loc("adj_close")] *= (
        1.001  # one price, long before the test
    )
    message = r"different walk-forward \(differs in \['data_hash'\]\); resuming would mix them: "
    message += r"pass a new --out folder or delete .*/folds$"
    with pytest.raises(ConfigError, match=message):
        walk_forward(models(), changed, PLAN, run_dir=tmp_path, quiet=True)
    shifted = spx.copy()
    shifted.index = shifted.index + pd.Timedelta(days=1)  # same numbers, other dates
    with pytest.raises(ConfigError, match="data_hash"):
        walk_forward(models(), shifted, PLAN, run_dir=tmp_path, quiet=True)
    # the same data resumes every fold
    again = walk_forward(models(), spx.copy(), PLAN, run_dir=tmp_path, quiet=True)
    assert again.folds["resumed"].all()


def test_a_crash_mid_save_resumes_to_the_same_numbers(
    spx: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = walk_forward(models(), spx, PLAN, quiet=True).forecasts
    real_open = io.open
    opened = {"n": 0}

    def open_that_dies(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if "w" in mode:
            opened["n"] += 1
            if opened["n"] == 8:  # the 4th fold's first file: half of it, then the process dies
                fh.write(b"PAR1")
                fh.close()
                raise KeyboardInterrupt("killed mid-save")
        return fh

    monkeypatch.setattr(io, "open", open_that_dies)
    with pytest.raises(KeyboardInterrupt, match="killed mid-save"):
        walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)
    monkeypatch.setattr(io, "open", real_open)
    done = sorted(p.name for p in (tmp_path / "folds").glob("*/fold_*.json"))
    assert len(done) == 3
    assert not list((tmp_path / "folds").glob("*/*.tmp"))  # no half-written file survives
    again = walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)
    assert int(again.folds["resumed"].sum()) == 3
    pd.testing.assert_frame_equal(again.forecasts, whole)


def test_a_damaged_fold_is_recomputed_and_a_corrupt_plan_refused(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    first = walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)
    (tmp_path / "folds" / "hv" / "fold_0002.parquet").write_bytes(b"PAR1 truncated")
    again = walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)
    resumed = again.folds.set_index(["model", "fold"])["resumed"]
    assert not resumed[("hv", 2)] and resumed[("hv", 1)] and resumed[("mean", 2)]
    pd.testing.assert_frame_equal(again.forecasts, first.forecasts)
    info = json.loads((tmp_path / "folds" / "hv" / "fold_0002.json").read_text())
    fold = PLAN.folds(spx.index)[2]
    day = lambda i: spx.index[i].isoformat()  # noqa: E731
    assert {k: v for k, v in info.items() if not k.endswith("_seconds")} == {
        "model": "hv",
        "fold": 2,
        "train_start": day(fold.train_start),
        "train_end": day(fold.train_stop - 1),
        "test_start": day(fold.test_start),
        "test_end": day(fold.test_stop - 1),
        "n": 21,
        "warm": False,
    }
    assert 0 <= info["fit_seconds"] < 60 and 0 <= info["predict_seconds"] < 60
    (tmp_path / "folds" / "plan.json").write_text("{not json")
    with pytest.raises(
        ConfigError, match=r"plan.json is corrupt .*delete .*folds or use a new --out"
    ):
        walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)


class Chained(HistoricalVariance):
    """A warm-startable model whose forecasts depend on how many fits its chain has had, so a
    chain resumed from the wrong state (or none) gives other numbers."""

    def __init__(self) -> None:
        super().__init__(None)
        self.fits_ = 0

    def fit(self, history: pd.DataFrame) -> Chained:
        self.fits_ += 1
        return super().fit(history)

    def predict(self, data: pd.DataFrame, start=None, end=None) -> pd.Series:
        return super().predict(data, start, end) * (1 + self.fits_ / 10)

    def warm_state(self) -> dict[str, np.ndarray]:
        return {"fits": np.array([self.fits_], dtype=np.int64)}

    def set_warm_state(self, state: dict[str, np.ndarray]) -> Chained:
        self.fits_ = int(state["fits"][0])
        return self


@pytest.mark.parametrize("state", ["kept", "truncated", "missing"])
def test_a_warm_chain_resumes_from_its_state_or_restarts_whole(
    spx: pd.DataFrame, tmp_path: Path, state: str
) -> None:
    chain = {"c": Chained}
    full = walk_forward(chain, spx, PLAN, warm_start=True, run_dir=tmp_path, quiet=True)
    assert full.folds["warm"].tolist() == [False, True, True, True, True]
    folder = tmp_path / "folds" / "c"
    assert sorted(p.name for p in folder.glob("*.safetensors"))[0] == "fold_0000.safetensors"
    (folder / "fold_0003.json").unlink()  # fold 3 (and so 4) to redo from fold 2's state
    (folder / "fold_0004.json").unlink()
    if state == "truncated":
        (folder / "fold_0002.safetensors").write_bytes(b"\x00" * 7)
    elif state == "missing":
        (folder / "fold_0002.safetensors").unlink()
    again = walk_forward(chain, spx, PLAN, warm_start=True, run_dir=tmp_path, quiet=True)
    pd.testing.assert_frame_equal(again.forecasts, full.forecasts)
    expected = [True, True, True, False, False] if state == "kept" else [False] * 5
    assert again.folds["resumed"].tolist() == expected
    assert len(list(folder.glob("fold_*.json"))) == 5  # every fold is on disk again
    # without warm starts every fold is a fresh model (one fit); warm, the last has had five
    cold = walk_forward(chain, spx, PLAN, run_dir=tmp_path / "cold", quiet=True).forecasts["c"]
    assert not list((tmp_path / "cold").rglob("*.safetensors"))  # no chain, no state kept
    np.testing.assert_allclose(cold.iloc[-1] / full.forecasts["c"].iloc[-1], 1.1 / 1.5)


def test_a_warm_chain_resumes_after_its_first_fold(spx: pd.DataFrame, tmp_path: Path) -> None:
    chain = {"c": Chained}
    full = walk_forward(chain, spx, PLAN, warm_start=True, run_dir=tmp_path, quiet=True)
    for k in range(1, 5):  # only fold 0 finished: fold 1 continues from fold 0's state
        (tmp_path / "folds" / "c" / f"fold_{k:04d}.json").unlink()
    again = walk_forward(chain, spx, PLAN, warm_start=True, run_dir=tmp_path, quiet=True)
    assert again.folds["resumed"].tolist() == [True, False, False, False, False]
    pd.testing.assert_frame_equal(again.forecasts, full.forecasts)


def test_a_plan_written_by_another_version_names_the_missing_key(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)
    path = tmp_path / "folds" / "plan.json"
    old = json.loads(path.read_text())
    del old["data_hash"]
    path.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match=r"differs in \['data_hash'\]"):
        walk_forward(models(), spx, PLAN, run_dir=tmp_path, quiet=True)


def test_the_jobs_and_the_progress_poll_reach_the_executor(
    spx: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatecast.evaluation import executors

    calls: list[tuple[object, object]] = []

    def recording(fn, tasks, n_jobs=1, *, on_tick=None):  # runs here, records what it was given
        calls.append((n_jobs, on_tick))
        return run_tasks(fn, tasks, 1, on_tick=on_tick)

    monkeypatch.setattr(executors, "run_tasks", recording)
    walk_forward(models(), spx, PLAN, n_jobs=3, run_dir=tmp_path, quiet=True)
    assert len(calls) == 1 and calls[0][0] == 3
    tick = calls[0][1]
    assert getattr(tick, "__name__", "") == "refresh"  # the progress bar polls ...
    assert tick.__self__.root == tmp_path  # type: ignore[union-attr]  # ... the run folder


def test_plan_values_are_checked_with_their_fix() -> None:
    with pytest.raises(ConfigError, match="refit_every=0: must be >= 1"):
        WalkForwardPlan("2015-01-02", refit_every=0)
    with pytest.raises(ConfigError, match="gap=-1: must be >= 0"):
        WalkForwardPlan("2015-01-02", gap=-1)
    with pytest.raises(ConfigError, match="rolling scheme needs train_size >= 2"):
        WalkForwardPlan("2015-01-02", scheme="rolling", train_size=1)
    with pytest.raises(ConfigError, match=r"^scheme 'sliding' is unknown; choose one of expanding"):
        WalkForwardPlan("2015-01-02", scheme="sliding")  # type: ignore[arg-type]
    # the smallest values allowed
    assert WalkForwardPlan("2015-01-02", refit_every=1).refit_every == 1
    assert WalkForwardPlan("2015-01-02", scheme="rolling", train_size=2).train_size == 2
    idx = pd.bdate_range("2015-01-01", periods=400)
    message = (
        r"^no dates between test_start 2016-06-01 and test_end 2016-05-01 \(data runs "
        r"2015-01-01 to 2016-07-13\); pick dates inside the data$"
    )
    with pytest.raises(ConfigError, match=message):
        WalkForwardPlan("2016-06-01", "2016-05-01").folds(idx)
    for bad, name in ((("soon",), "test_start"), (("2015-06-01", "later"), "test_end")):
        with pytest.raises(ConfigError, match=rf"^{name} '\w+' is not a date"):
            WalkForwardPlan(*bad).folds(idx)
    # rolling: the window is cut at the first row, and a short window is refused by its size
    (first,) = WalkForwardPlan(
        str(idx[300].date()), str(idx[301].date()), scheme="rolling", train_size=10_000
    ).folds(idx)
    assert (first.train_start, first.train_stop) == (0, 300)
    with pytest.raises(TooFewRowsError, match=r"has 5 training rows, fewer than min_train=10"):
        WalkForwardPlan(str(idx[300].date()), scheme="rolling", train_size=5, min_train=10).folds(
            idx
        )
    with pytest.raises(TooFewRowsError, match=r"has 0 training rows, fewer than min_train=1;"):
        WalkForwardPlan(str(idx[2].date()), gap=5, min_train=1).folds(idx)
    assert len(WalkForwardPlan(str(idx[10].date()), min_train=10).folds(idx)) > 0  # exactly enough
    with pytest.raises(
        TooFewRowsError, match=r"fold 0 .* has 9 training rows, fewer than min_train"
    ):
        WalkForwardPlan(str(idx[12].date()), gap=3, min_train=10).folds(idx)
    folds = WalkForwardPlan(str(idx[300].date()), str(idx[349].date()), refit_every=20).folds(idx)
    assert [(f.test_start, f.test_stop) for f in folds] == [(300, 320), (320, 340), (340, 350)]
    assert [f.number for f in folds] == [0, 1, 2]


def test_warm_starts_per_model_and_no_model_at_all(spx: pd.DataFrame) -> None:
    res = walk_forward({"c": Chained, "d": Chained}, spx, PLAN, warm_start={"c": True}, quiet=True)
    warm = res.folds.groupby("model")["warm"].apply(list)
    assert warm["c"] == [False, True, True, True, True] and warm["d"] == [False] * 5
    # without a run folder the warm chain is one model refit five times, not a fresh one per fold
    last = res.forecasts.iloc[-1]
    assert last["c"] / last["d"] == pytest.approx(1.5 / 1.1, rel=1e-12)
    with pytest.raises(ConfigError, match=r"^no models to evaluate; give at least one$"):
        walk_forward({}, spx, PLAN, quiet=True)


def test_summary_and_model_identity(spx: pd.DataFrame) -> None:
    res = walk_forward(models(), spx, PLAN, quiet=True)
    text = res.summary()
    assert str(res) == text
    assert list(res.folds.columns) == [
        "model",
        "fold",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "n",
        "fit_seconds",
        "predict_seconds",
        "warm",
        "resumed",
    ]
    assert list(res.folds.index) == list(range(10)) and 0 <= res.seconds < 60
    assert text.startswith(f"walk-forward: {len(res.forecasts)} dates x 2 models in ")
    table = text.splitlines()[1:]
    assert table[0].split() == ["folds", "fit_s", "resumed"] and table[1].split() == ["model"]
    assert [row.split()[0::3] for row in table[2:]] == [["hv", "0"], ["mean", "0"]]
    assert [int(row.split()[1]) for row in table[2:]] == [5, 5]
    assert model_identity(lambda: np.float64(1.0))["factory"].startswith("<function")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_a_progress_bar_per_model_on_a_terminal_only(
    spx: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet: bool
) -> None:
    import re

    import rich
    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=screen, force_terminal=True, width=100))
    monkeypatch.setattr(sys, "stderr", Terminal())
    walk_forward(models(), spx, PLAN, run_dir=tmp_path, **({"quiet": True} if quiet else {}))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    if quiet:
        assert text == ""
        return
    last = text.replace("\r", "\n").strip().splitlines()[-2:]
    assert re.fullmatch(r" {10}hv ━+ 5/5 folds 0:00:0\d", last[0]), last
    assert re.fullmatch(r" {8}mean ━+ 5/5 folds 0:00:0\d", last[1]), last
    screen.truncate(0)  # without a run folder the bar counts the folds as they return
    walk_forward(models(), spx, PLAN)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert " 5/5 folds" in text.replace("\r", "\n").strip().splitlines()[-1]
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no bar
    screen.truncate(0)
    walk_forward(models(), spx, PLAN, run_dir=tmp_path / "b")
    assert screen.getvalue() == ""


class Broken(HistoricalVariance):
    """Fails to fit on the fold given (a model that cannot be estimated on that history)."""

    def __init__(self, fail_from: int = 0) -> None:
        super().__init__(22)
        self.fail_from = fail_from

    def fit(self, history: pd.DataFrame) -> Broken:
        if len(history) >= self.fail_from:
            raise ValueError(f"cannot fit on {len(history)} rows")
        return super().fit(history)


def test_a_run_that_finishes_no_fold_leaves_nothing_behind(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "new"
    with pytest.raises(ValueError, match=r"^cannot fit on \d+ rows$"):
        walk_forward({"bad": Broken}, spx, PLAN, run_dir=out, quiet=True)
    assert not out.exists()
    # a folder that existed before is kept, emptied of the failed run
    (tmp_path / "mine").mkdir()
    with pytest.raises(ValueError, match="cannot fit"):
        walk_forward({"bad": Broken}, spx, PLAN, run_dir=tmp_path / "mine", quiet=True)
    assert (tmp_path / "mine").is_dir() and not list((tmp_path / "mine").iterdir())
    discard_unfinished(tmp_path / "mine", keep=tmp_path / "mine")  # again: nothing left to do
    assert (tmp_path / "mine").is_dir()
    # ... and the corrected command (another model, so another plan) runs in it
    ok = walk_forward(models(), spx, PLAN, run_dir=tmp_path / "mine", quiet=True)
    assert not ok.folds["resumed"].any()


def test_a_run_with_a_finished_fold_is_kept_to_resume(spx: pd.DataFrame, tmp_path: Path) -> None:
    n_rows = PLAN.folds(spx.index)[2].train_stop  # folds 0 and 1 fit, fold 2 fails
    failing = {"x": functools.partial(Broken, n_rows)}
    with pytest.raises(ValueError, match="cannot fit"):
        walk_forward(failing, spx, PLAN, run_dir=tmp_path, quiet=True)
    kept = sorted(p.name for p in (tmp_path / "folds" / "x").glob("*.json"))
    assert kept == ["fold_0000.json", "fold_0001.json"]
    assert (tmp_path / "folds" / "plan.json").is_file()
    record = json.loads((tmp_path / "folds" / "plan.json").read_text())
    assert set(record["models"]) == {"x"}


def test_the_run_folder_records_plain_json_values(tmp_path: Path, spx: pd.DataFrame) -> None:
    from gatecast.data import TargetSpec
    from gatecast.models.baselines import NoChange
    from gatecast.models.har import HARForecaster

    har = functools.partial(HARForecaster, (1, 5), target="parkinson")
    nc = functools.partial(NoChange, TargetSpec("return"))
    walk_forward({"har": har, "nc": nc}, spx, PLAN, run_dir=tmp_path, quiet=True)
    record = json.loads((tmp_path / "folds" / "plan.json").read_text())
    assert record["models"]["har"] == {
        "class": "gatecast.models.har.HARForecaster",
        "params": {
            "lags": [1, 5],
            "target": "parkinson",
            "column": None,
            "name": "har",
            "measure": "auto",
        },
    }
    assert record["plan"] == {
        "test_start": "2015-01-02",
        "test_end": "2015-05-29",
        "refit_every": 21,
        "scheme": "expanding",
        "train_size": None,
        "gap": 0,
        "min_train": 250,
    }
    assert len(record["data_hash"]) == 64
    assert record["models"]["nc"]["params"]["target"] == TargetSpec("return").to_dict()


def test_a_crash_in_the_first_fold_leaves_no_folder_behind(
    spx: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = io.open
    opened = {"n": 0}

    def open_that_dies(file, mode="r", *args, **kwargs):
        if "w" in mode:
            opened["n"] += 1
            if opened["n"] == 2:  # plan.json is written; the first fold's file is not
                raise KeyboardInterrupt("killed in the first fold")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", open_that_dies)
    with pytest.raises(KeyboardInterrupt, match="killed in the first fold"):
        walk_forward(models(), spx, PLAN, run_dir=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_each_forecast_uses_the_days_before_it_only(spx: pd.DataFrame) -> None:
    base = walk_forward(models(), spx, PLAN, quiet=True).forecasts
    for day in ("2015-01-02", "2015-02-03", "2015-05-29"):  # a fold's first day, mid-fold, last
        moved = spx.copy()
        moved.loc[day:, ["open", "high", "low", "close", "adj_close"]] *= 0.6
        got = walk_forward(models(), moved, PLAN, quiet=True).forecasts
        pd.testing.assert_frame_equal(got.loc[:day], base.loc[:day])
        if day != "2015-05-29":  # the next day's 22-day variance sees the move
            nxt = got.index[got.index.get_loc(day) + 1]
            assert not np.isclose(got.loc[nxt, "hv"], base.loc[nxt, "hv"])

"""A sweep on a panel: the choice is the argmin of the selection statistic recomputed by hand from
the trials' forecasts, the test period cannot reach it, finished trials are read back, the test
is the panel evaluation of the choice, and what does not apply is refused before any fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.data.panel import Panel
from gatecast.errors import ConfigError, GatecastError
from gatecast.experiment.run_reader import Run
from gatecast.experiment.sweep import PanelSweepConfig, PanelSweepResult, run_panel_sweep

TEST_START = "2011-07-01"
SETTINGS: dict[str, Any] = {
    "grid": {"hidden": (4,), "embedding": (False, True)},
    "fixed": {"epochs": 1, "warm_epochs": 1},
    "select_start": "2011-01-03",
    "test_start": TEST_START,
    "refit_every": 63,
    "min_train": 250,
    "executor": "serial",
    "n_jobs": 1,
    "quiet": True,
}


def _panel(test_scale: float | None = None) -> Panel:
    """Three instruments, 400 business days, GARCH-like volatility clusters; with
    ``test_scale``, every price from the test's first day on is changed (each by its own
    random factor around ``test_scale``)."""
    days = pd.bdate_range("2010-01-01", periods=400)
    rng, moves = np.random.default_rng(7), np.random.default_rng(8)
    frames = {}
    for name, base in (("AAA", 0.8), ("BBB", 1.5), ("CCC", 2.5)):
        sigma2, r = base**2, np.empty(len(days))
        for t in range(len(days)):
            r[t] = np.sqrt(sigma2) * rng.standard_normal()
            sigma2 = 0.05 * base**2 + 0.1 * r[t] ** 2 + 0.85 * sigma2
        close = 100 * np.exp(np.cumsum(r / 100))
        if test_scale is not None:
            late = days >= pd.Timestamp(TEST_START)
            close[late] *= test_scale * np.exp(0.05 * moves.standard_normal(late.sum()))
        frames[name] = pd.DataFrame({"close": close}, index=days.rename("date"))
    return Panel(frames, source="a synthetic panel")


def _sweep(panel: Panel, out: Path, **extra: Any) -> PanelSweepResult:
    return run_panel_sweep(PanelSweepConfig(data=panel, out=str(out), **SETTINGS | extra))


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[PanelSweepResult, Path]:
    out = tmp_path_factory.mktemp("panel_sweep") / "run"
    return _sweep(_panel(), out), out


def _qlike(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """QLIKE in its closed form (Patton 2011): a / f - log(a / f) - 1."""
    ratio = actual / forecast
    return np.asarray(ratio - np.log(ratio) - 1)


def test_the_choice_is_the_argmin_of_the_median_qlike_ratio_recomputed_from_the_forecasts(
    swept: tuple[PanelSweepResult, Path],
) -> None:
    res, out = swept
    panel = _panel()
    ref = pd.read_parquet(out / "selection_reference.parquet").set_index(["instrument", "date"])
    by_hand = {}
    for trial in sorted((out / "trials").glob("*/seed_0.parquet")):
        fc = pd.read_parquet(trial).set_index(["instrument", "date"])["forecast"]
        ratios = []
        for name in ("AAA", "BBB", "CCC"):
            close = panel[name]["close"]
            proxy = (100 * np.log(close).diff()) ** 2  # the squared percent return
            mine, theirs = fc.loc[name], ref["forecast"].loc[name]
            a = proxy.reindex(mine.index).to_numpy()
            ratios.append(_qlike(a, mine.to_numpy()).mean() / _qlike(a, theirs.to_numpy()).mean())
        by_hand[trial.parent.name] = float(np.median(ratios))
    assert len(by_hand) == 2
    table = res.selection
    for key, value in by_hand.items():
        assert table.loc[key, "select_mean"] == pytest.approx(value, rel=1e-9)
    assert table.index[0] == min(by_hand, key=by_hand.__getitem__)
    assert res.selected == {
        "hidden": 4,
        "embedding": table.loc[table.index[0], "embedding"] == "True",
    }
    # nothing of the test period was forecast for the choice
    dates = pd.read_parquet(next((out / "trials").glob("*/seed_0.parquet")))["date"]
    assert dates.max() < pd.Timestamp(TEST_START)


def test_no_test_period_value_reaches_a_selection_loss_or_the_choice(
    swept: tuple[PanelSweepResult, Path], tmp_path: Path
) -> None:
    res, _ = swept
    # every instrument's every price from the test's first day on changed; the same seeds
    # recompute every trial afresh (also: the same seed gives the same selection)
    moved = _sweep(_panel(test_scale=1.7), tmp_path / "moved")
    pd.testing.assert_frame_equal(moved.selection, res.selection)
    assert moved.selected == res.selected
    assert not moved.trials["resumed"].any()
    # ... while the test did see the changed prices
    assert not np.allclose(
        moved.test.summary["median_qlike"].to_numpy(), res.test.summary["median_qlike"].to_numpy()
    )


def test_resume_reads_finished_trials_back_without_recomputing_them(
    swept: tuple[PanelSweepResult, Path],
) -> None:
    res, out = swept
    files = sorted((out / "trials").glob("*/seed_0.*"))
    before = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files}
    again = _sweep(_panel(), out, resume=True)
    assert again.trials["resumed"].all()
    assert {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files} == before
    pd.testing.assert_frame_equal(again.selection, res.selection)
    # the test's panel walk read its refits back too: the same forecasts
    pd.testing.assert_frame_equal(again.test.walk.forecasts, res.test.walk.forecasts)
    # a rerun of another search space into the folder is refused, naming what differs
    with pytest.raises(ConfigError, match=r"different search space.*grid"):
        _sweep(_panel(), out, resume=True, grid={"hidden": (4, 8)})


def test_the_test_is_the_panel_evaluation_of_the_chosen_configuration(
    swept: tuple[PanelSweepResult, Path],
) -> None:
    res, out = swept
    direct = gc.evaluate_panel(
        _panel(),
        test_start=TEST_START,
        models="lstm,gjr_t",
        refit_every=63,
        min_train=250,
        hidden=4,
        epochs=1,
        warm_epochs=1,
        embedding=bool(res.selected["embedding"]),
        seed=0,
    )
    # the same path (the panel walk of the same model and seed): the same numbers
    pd.testing.assert_frame_equal(res.test.walk.forecasts, direct.walk.forecasts)
    pd.testing.assert_frame_equal(res.test.summary, direct.summary)
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-sweep", "finished")
    assert list(run.table("test").index) == ["lstm", "gjr_t"]
    assert set(run.table("per_instrument")["instrument"]) == {"AAA", "BBB", "CCC"}
    assert Run.open(out / "test").kind == "panel-evaluate"
    assert (out / "selection.png").stat().st_size > 1000
    summary = json.loads((out / "sweep_summary.json").read_text())
    assert summary["selected_model"] == "lstm"
    assert summary["statistic"] == "median QLIKE ratio to gjr_t"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"top_k": 2}, "--top-k does not apply to a panel sweep"),
        ({"record": True}, "--record does not apply to a panel sweep"),
        ({"proxy": "parkinson"}, "--proxy parkinson does not apply"),
        ({"target": "direction"}, "--target direction"),
        (
            {"grid": {"residual": ("gjr_t",)}},
            r"'residual' is not a parameter of the global.*embedding",
        ),
        (
            {"grid": {"classical_inputs": ("gjr_t",)}, "target": "return"},
            "'classical_inputs' is not a parameter",
        ),
        ({"baselines": ("lstm",)}, "baseline lstm: the global recurrent model is swept"),
        ({"baselines": ("lstm_hybrid",)}, "lstm_hybrid"),
        ({"grid": {"hidden": (0,)}}, "hidden=0"),
        ({"select_start": "2010-01-04"}, "fewer than min_train=250"),
    ],
)
def test_what_does_not_apply_is_refused_before_anything_is_written(
    tmp_path: Path, extra: dict[str, Any], match: str
) -> None:
    out = tmp_path / "run"
    with pytest.raises(GatecastError, match=match):
        _sweep(_panel(), out, **extra)
    assert not out.exists()


def test_a_return_sweep_is_scored_against_no_change(tmp_path: Path) -> None:
    res = _sweep(
        _panel(), tmp_path / "ret", target="return", grid={"hidden": (4,)}, baselines=("ar1",)
    )
    assert res.statistic == "median MSE ratio to no_change"
    assert list(res.test.summary.index) == ["lstm", "no_change", "ar1"]
    assert res.trials["score"].iloc[0] > 0


def test_with_covariates_every_trial_reads_them_and_the_test_is_their_ablation(
    tmp_path: Path,
) -> None:
    days = pd.bdate_range("2009-06-01", periods=800)
    x = np.random.default_rng(1).standard_normal(len(days))
    csv = tmp_path / "x.csv"
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "x": x}).to_csv(csv, index=False)
    group = f"file:{csv}:x"
    res = _sweep(
        _panel(), tmp_path / "cov", grid={"hidden": (4,)}, covariates=(group,), baselines=("har",)
    )
    assert set(res.trials["model"]) == {f"lstm+{group}"}
    assert res.selected_model == f"lstm+{group}"
    # the ordinary panel evaluation with --covariates: the choice beside itself without them
    assert list(res.test.summary.index) == [
        "lstm",
        f"lstm+{group}",
        "gjr_t",
        "har",
        f"har_x+{group}",
    ]
    assert res.test.ablation is not None


def test_an_optuna_sampler_chooses_among_the_configurations_it_asked_for(tmp_path: Path) -> None:
    res = _sweep(_panel(), tmp_path / "random", sampler="random", trials=2, grid={"hidden": (4, 6)})
    scores = res.trials.groupby("config")["score"].mean()
    assert 1 <= len(res.selection) <= 2
    assert res.selection.index[0] == scores.idxmin()
    assert res.selected["hidden"] in (4, 6)

"""The walk-forward engine: folds, no look-ahead, resume after a kill, warm starts, the process pool."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.volatility import HistoricalVariance


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2012":"2015-06"]


class CountingMean(HistoricalVariance):
    """Records every fit (in-process runs only) so a test can see which folds were recomputed."""

    fits: ClassVar[list[pd.Timestamp]] = []

    def fit(self, history: pd.DataFrame) -> CountingMean:
        CountingMean.fits.append(history.index[-1])
        return super().fit(history)


def test_folds_expanding_rolling_and_gap(spx: pd.DataFrame) -> None:
    idx = spx.index
    folds = WalkForwardPlan("2015-01-01", "2015-03-31", refit_every=21).folds(idx)
    first = idx.searchsorted(pd.Timestamp("2015-01-01"))
    assert folds[0].test_start == first and folds[0].train_start == 0
    assert all(f.train_stop == f.test_start for f in folds)
    assert sum(f.test_stop - f.test_start for f in folds) == len(spx.loc["2015-01":"2015-03"])
    assert [f.test_stop - f.test_start for f in folds[:-1]] == [21] * (len(folds) - 1)
    rolled = WalkForwardPlan("2015-01-01", scheme="rolling", train_size=500, gap=5).folds(idx)
    assert all(f.train_stop - f.train_start == 500 for f in rolled)
    assert all(f.test_start - f.train_stop == 5 for f in rolled)
    with pytest.raises(ConfigError, match="train_size"):
        WalkForwardPlan("2015-01-01", scheme="rolling")
    with pytest.raises(TooFewRowsError, match="min_train"):
        WalkForwardPlan("2012-01-10").folds(idx)
    with pytest.raises(ConfigError, match="no dates"):
        WalkForwardPlan("2020-01-01").folds(idx)


def test_forecast_for_t_ignores_day_t_in_every_fold(spx: pd.DataFrame) -> None:
    plan = WalkForwardPlan("2015-01-01", "2015-04-30", refit_every=21)
    models = {
        "garch": functools.partial(ArchForecaster, "GARCH"),
        "har": functools.partial(HARForecaster),
    }
    base = walk_forward(models, spx, plan, quiet=True).forecasts
    for day in ("2015-01-02", "2015-02-03", "2015-03-31"):  # a fold's first day, mid-fold, last day
        moved = spx.copy()
        moved.loc[day:, ["open", "high", "low", "close", "adj_close"]] *= 0.6
        got = walk_forward(models, moved, plan, quiet=True).forecasts
        pd.testing.assert_frame_equal(got.loc[:day], base.loc[:day])
        assert not np.allclose(got.loc[day:].iloc[1], base.loc[day:].iloc[1])


def test_every_forecast_carries_the_date_of_the_last_row_it_used(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    """The row before each forecast date in the data (not the calendar day before: the data
    skips 2015-01-19, a holiday, and two days dropped here), with a gap and when resumed."""
    data = spx.drop(pd.to_datetime(["2015-02-10", "2015-02-11"]))
    plan = WalkForwardPlan("2015-01-02", "2015-03-31", refit_every=21, gap=3)
    models = {"mean": functools.partial(HistoricalVariance, None)}
    walk = walk_forward(models, data, plan, run_dir=tmp_path, quiet=True)
    info = walk.information_dates
    assert info is not None and info.name == "as_of"
    assert info.index.equals(walk.forecasts.index)
    assert info["2015-02-12"] == pd.Timestamp("2015-02-09")
    assert info["2015-01-20"] == pd.Timestamp("2015-01-16")
    rows = data.index.get_indexer(info.index)
    assert (data.index[rows - 1] == info.to_numpy()).all()
    again = walk_forward(models, data, plan, run_dir=tmp_path, quiet=True)
    assert again.folds["resumed"].all()
    assert again.information_dates is not None and again.information_dates.equals(info)


def test_resume_recomputes_only_missing_folds_and_gives_the_same_numbers(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    plan = WalkForwardPlan("2015-01-01", "2015-06-30", refit_every=21)
    models = {
        "mean": functools.partial(CountingMean, None),
        "garch": functools.partial(ArchForecaster, "GARCH"),
    }
    full = walk_forward(models, spx, plan, quiet=True).forecasts
    CountingMean.fits.clear()
    first = walk_forward(models, spx, plan, run_dir=tmp_path, quiet=True)
    n_folds = len(plan.folds(spx.index))
    assert len(CountingMean.fits) == n_folds
    # simulate a kill: two folds never finished (one lost its JSON marker, one lost both files)
    folder = tmp_path / "folds" / "mean"
    (folder / "fold_0001.json").unlink()
    (folder / "fold_0003.json").unlink()
    (folder / "fold_0003.parquet").unlink()
    (tmp_path / "folds" / "garch" / "fold_0002.json").write_text("{broken")
    CountingMean.fits.clear()
    again = walk_forward(models, spx, plan, run_dir=tmp_path, quiet=True)
    assert len(CountingMean.fits) == 2  # only the missing folds were refit
    pd.testing.assert_frame_equal(again.forecasts, full)
    pd.testing.assert_frame_equal(first.forecasts, full)
    resumed = again.folds.set_index(["model", "fold"])["resumed"]
    assert not resumed[("mean", 1)] and not resumed[("garch", 2)] and resumed[("mean", 0)]
    info = json.loads((folder / "fold_0001.json").read_text())
    assert info["n"] == 21 and info["train_end"] < info["test_start"]


def test_a_different_plan_refuses_to_resume_in_the_same_folder(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    models = {"mean": functools.partial(HistoricalVariance, None)}
    walk_forward(
        models, spx, WalkForwardPlan("2015-03-02", refit_every=21), run_dir=tmp_path, quiet=True
    )
    with pytest.raises(ConfigError, match="different walk-forward"):
        walk_forward(
            models, spx, WalkForwardPlan("2015-03-02", refit_every=10), run_dir=tmp_path, quiet=True
        )


def test_the_run_folder_records_each_model_by_its_parameters(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    plan = WalkForwardPlan("2015-03-02", refit_every=21)
    walk_forward(
        {"hv": functools.partial(HistoricalVariance, 22)}, spx, plan, run_dir=tmp_path, quiet=True
    )
    record = json.loads((tmp_path / "folds" / "plan.json").read_text())
    assert record["plan"]["scheme"] == "expanding"
    assert record["models"]["hv"] == {
        "class": "gatecast.models.volatility.HistoricalVariance",
        "params": {"window": 22, "target": "squared", "column": None, "name": "hv22"},
    }
    # the same model built another way resumes; another parameter value refuses to
    again = walk_forward(
        {"hv": lambda: HistoricalVariance(window=22, target="squared")},
        spx,
        plan,
        run_dir=tmp_path,
        quiet=True,
    )
    assert again.folds["resumed"].all()
    with pytest.raises(ConfigError, match="different walk-forward"):
        walk_forward(
            {"hv": functools.partial(HistoricalVariance, 10, name="hv22")},
            spx,
            plan,
            run_dir=tmp_path,
            quiet=True,
        )


@pytest.mark.parametrize("kind", ["variance", "return"])
def test_warm_chain_resumes_from_the_saved_state(
    spx: pd.DataFrame, tmp_path: Path, kind: str
) -> None:
    from gatecast.models.recurrent import RecurrentForecaster
    from gatecast.models.recurrent.variance import RecurrentVariance

    plan = WalkForwardPlan("2015-03-02", "2015-05-29", refit_every=21)
    if kind == "variance":
        factory = functools.partial(
            RecurrentVariance, "gru", hidden=4, window=5, epochs=2, warm_epochs=1, warm_start=True
        )
    else:
        factory = functools.partial(
            RecurrentForecaster,
            "gru",
            hidden=4,
            layers=1,
            window=5,
            epochs=2,
            warm_epochs=1,
            warm_start=True,
            device="cpu",
        )
    models: dict[str, Any] = {"gru": factory}
    full = walk_forward(models, spx, plan, warm_start=True, run_dir=tmp_path / "a", quiet=True)
    assert full.folds["warm"].tolist() == [False, True, True]
    for k in (1, 2):
        (tmp_path / "a" / "folds" / "gru" / f"fold_{k:04d}.json").unlink()
    again = walk_forward(models, spx, plan, warm_start=True, run_dir=tmp_path / "a", quiet=True)
    assert again.folds["resumed"].tolist() == [True, False, False]
    pd.testing.assert_frame_equal(again.forecasts, full.forecasts)


@pytest.mark.slow
def test_process_pool_matches_sequential(spx: pd.DataFrame, tmp_path: Path) -> None:
    plan = WalkForwardPlan("2015-01-01", "2015-04-30", refit_every=21)
    models = {
        "garch": functools.partial(ArchForecaster, "GARCH"),
        "hv22": functools.partial(HistoricalVariance, 22),
    }
    seq = walk_forward(models, spx, plan, quiet=True).forecasts
    pool = walk_forward(models, spx, plan, n_jobs=2, run_dir=tmp_path, quiet=True)
    pd.testing.assert_frame_equal(pool.forecasts, seq)
    assert len(list((tmp_path / "folds" / "garch").glob("fold_*.parquet"))) == len(
        plan.folds(spx.index)
    )

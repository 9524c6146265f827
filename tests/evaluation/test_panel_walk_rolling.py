"""The panel walk-forward with rolling training windows (and a gap): each instrument's window is
its own last ``train_size`` rows before the refit date, the single-series rule; a per-instrument
baseline equals the single-series rolling walk; no leak after D; rows older than a fold's window
change none of its forecasts; a run folder records the scheme."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.panel_walk import PanelWalkPlan, PanelWalkResult, panel_walk_forward
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

DAYS = pd.bdate_range("2010-01-04", periods=200)
#: A trades every day, B starts 30 days later, C misses ten days
LATE, GAP, VOLS = 30, (100, 110), (1.0, 2.0, 0.5)


#: refits on DAYS[120], DAYS[140], ...; each instrument trains on its last 60 rows, the last 2
#: rows before the refit date left out
PLAN = PanelWalkPlan(
    str(DAYS[120].date()), refit_every=20, min_train=50, scheme="rolling", train_size=60, gap=2
)


class _Recording(GlobalRecurrentVariance):
    """A global model that keeps, per fit, each instrument's (first date, last date, rows)."""

    log: list[dict[str, tuple[pd.Timestamp, pd.Timestamp, int]]]

    def fit(self, panel: Any, y: None = None) -> _Recording:
        self.log.append({n: (df.index[0], df.index[-1], len(df)) for n, df in panel.items()})
        super().fit(panel)
        return self


def _recording(log: list[Any]) -> _Recording:
    m = _Recording(hidden=4, epochs=1, warm_epochs=1, warm_start=False, device="cpu", seed=0)
    m.log = log
    return m


def _walk(
    panel: dict[str, pd.DataFrame], log: list[Any], plan: PanelWalkPlan = PLAN, **kw: Any
) -> PanelWalkResult:
    models = {
        "lstm": functools.partial(_recording, log),
        "har": functools.partial(HARForecaster, (1, 5, 10), name="har"),
    }
    return panel_walk_forward(models, panel, plan, **kw)


@pytest.fixture(scope="module")
def base(late_and_gapped_panel) -> tuple[PanelWalkResult, list[Any]]:
    log: list[Any] = []
    return _walk(late_and_gapped_panel(DAYS, LATE, GAP, VOLS), log), log


def test_each_instruments_window_is_its_own_last_train_size_rows_by_hand(
    late_and_gapped_panel,
    base: tuple[PanelWalkResult, list[Any]],
) -> None:
    panel = late_and_gapped_panel(DAYS, LATE, GAP, VOLS)
    refits = PLAN.refit_dates(panel)
    assert list(refits) == [DAYS[120], DAYS[140], DAYS[160], DAYS[180]]
    # fold 0 by hand: the refit date is row 120 of A, 90 of B, 110 of C (ten days missing);
    # rows [s - 2 - 60, s - 2)
    folds = {n: PLAN.folds(n, df.index, refits) for n, df in panel.items()}
    assert (folds["A"][0].train_start, folds["A"][0].train_stop) == (58, 118)
    assert (folds["B"][0].train_start, folds["B"][0].train_stop) == (28, 88)
    assert (folds["C"][0].train_start, folds["C"][0].train_stop) == (48, 108)
    first_last = {
        n: (df.index[folds[n][0].train_start], df.index[folds[n][0].train_stop - 1])
        for n, df in panel.items()
    }
    assert first_last["A"] == first_last["B"] == (DAYS[58], DAYS[117])
    assert first_last["C"] == (DAYS[48], DAYS[117])  # 60 rows of its own span 70 days
    for fs in folds.values():
        assert all(f.train_stop - f.train_start == 60 for f in fs)
        assert all(f.test_start - f.train_stop == 2 for f in fs)
    # the walk's own records: the per-instrument model's folds and the global model's fits
    walk, log = base
    har = walk.folds[walk.folds.model == "har"]
    for n, df in panel.items():
        mine = har[har.instrument == n].sort_values("fold")
        want = [(df.index[f.train_start], df.index[f.train_stop - 1]) for f in folds[n]]
        assert list(zip(mine.train_start, mine.train_end, strict=True)) == want
    assert len(log) == 4
    for k, fit in enumerate(log):
        for n, df in panel.items():
            f = folds[n][k]
            assert fit[n] == (df.index[f.train_start], df.index[f.train_stop - 1], 60)


def test_a_per_instrument_baseline_equals_the_single_series_rolling_walk(random_walk_on) -> None:
    days = pd.bdate_range("2010-01-01", periods=330)
    panel = {"X": random_walk_on(3, days, 1.0), "Y": random_walk_on(4, days, 2.0)}
    models = {
        "garch": functools.partial(ArchForecaster, "GARCH", name="garch"),
        "har": functools.partial(HARForecaster, (1, 5, 22), name="har"),
    }
    kw: dict[str, Any] = {"refit_every": 21, "min_train": 100, "scheme": "rolling", "gap": 1}
    walk = panel_walk_forward(models, panel, PanelWalkPlan("2010-10-01", train_size=150, **kw))
    for n, df in panel.items():
        # the same fits on the same rows through the same runner: the same numbers
        single = walk_forward(
            models, df, WalkForwardPlan("2010-10-01", train_size=150, **kw), quiet=True
        )
        pd.testing.assert_frame_equal(
            walk.forecasts.xs(n, level="instrument"),
            single.forecasts,
            check_names=False,
            check_freq=False,
        )
    # and the window matters: expanding windows give other forecasts (the test could fail)
    grown = panel_walk_forward(
        models, panel, PanelWalkPlan("2010-10-01", refit_every=21, min_train=100)
    )
    assert not np.allclose(grown.forecasts["har"], walk.forecasts["har"])


def test_a_change_after_d_moves_no_forecast_up_to_d(
    late_and_gapped_panel,
    base: tuple[PanelWalkResult, list[Any]],
) -> None:
    walk0, _ = base
    panel = late_and_gapped_panel(DAYS, LATE, GAP, VOLS)
    day = PLAN.refit_dates(panel)[2]
    b = panel["B"].copy()
    b.iloc[np.flatnonzero(b.index >= day)[[0, 4, 15]], 0] *= 1.7
    panel["B"] = b
    walk = _walk(panel, [])
    upto = walk.forecasts.index.get_level_values("date") <= day
    pd.testing.assert_frame_equal(walk.forecasts[upto], walk0.forecasts[upto])
    after = walk.forecasts.index.get_level_values("date") > day
    assert not np.allclose(walk.forecasts[after], walk0.forecasts[after])  # the change is seen


def test_rows_older_than_a_folds_window_change_none_of_its_forecasts(
    late_and_gapped_panel,
    random_walk_on,
    base: tuple[PanelWalkResult, list[Any]],
) -> None:
    """A's rows before fold 2's window (rows before 158 - 60 = 98) replaced by other prices:
    fold 2 and later, every model and instrument, forecast the same; under expanding windows
    the same change moves them."""
    walk0, _ = base
    panel = late_and_gapped_panel(DAYS, LATE, GAP, VOLS)
    refits = PLAN.refit_dates(panel)
    start = PLAN.folds("A", panel["A"].index, refits)[2].train_start
    assert start == 98
    a = panel["A"].copy()
    a.iloc[:start, 0] = random_walk_on(9, DAYS[:start], 3.0)["close"].to_numpy()
    changed = dict(panel, A=a)
    walk = _walk(changed, [])
    later = walk.forecasts.index.get_level_values("date") >= refits[2]
    pd.testing.assert_frame_equal(walk.forecasts[later], walk0.forecasts[later])
    assert not np.allclose(walk.forecasts[~later], walk0.forecasts[~later])  # earlier folds see it
    grown = PanelWalkPlan(PLAN.test_start, refit_every=20, min_train=50)
    e0, e1 = _walk(panel, [], grown), _walk(changed, [], grown)
    at = e1.forecasts.index.get_level_values("date") >= refits[2]
    assert not np.allclose(e1.forecasts.loc[at, "har"], e0.forecasts.loc[at, "har"])


def test_a_rolling_run_folder_resumes_and_refuses_another_scheme(
    late_and_gapped_panel, tmp_path: Path, base: tuple[PanelWalkResult, list[Any]]
) -> None:
    walk0, _ = base
    run = tmp_path / "run"
    first = _walk(late_and_gapped_panel(DAYS, LATE, GAP, VOLS), [], run_dir=run)
    pd.testing.assert_frame_equal(first.forecasts, walk0.forecasts)
    plan = json.loads((run / "folds" / "plan.json").read_text())["plan"]
    assert (plan["scheme"], plan["train_size"], plan["gap"]) == ("rolling", 60, 2)
    again = _walk(late_and_gapped_panel(DAYS, LATE, GAP, VOLS), [], run_dir=run)
    assert again.folds.resumed.all()
    pd.testing.assert_frame_equal(again.forecasts, walk0.forecasts)
    other = PanelWalkPlan(PLAN.test_start, refit_every=20, min_train=50)
    with pytest.raises(ConfigError):
        _walk(late_and_gapped_panel(DAYS, LATE, GAP, VOLS), [], other, run_dir=run)


def test_a_window_too_short_and_bad_settings_are_refused(late_and_gapped_panel) -> None:
    panel = late_and_gapped_panel(DAYS, LATE, GAP, VOLS)
    plan = PanelWalkPlan(
        PLAN.test_start, refit_every=20, min_train=80, scheme="rolling", train_size=60
    )
    with pytest.raises(TooFewRowsError, match=r"instrument 'A' has 60 rows in its rolling window"):
        plan.folds("A", panel["A"].index, plan.refit_dates(panel))
    with pytest.raises(ConfigError, match="train_size=None: the rolling scheme needs"):
        PanelWalkPlan("2010-06-01", scheme="rolling")
    with pytest.raises(ConfigError, match="gap=-1"):
        PanelWalkPlan("2010-06-01", gap=-1)

"""The panel walk-forward: no leak across dates or instruments, per-instrument baselines equal to
the single-series walk-forward's, and the per-instrument and pooled scores."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.losses import qlike_loss
from gatecast.evaluation.panel_scores import score_panel
from gatecast.evaluation.panel_walk import (
    PanelWalkPlan,
    PanelWalkResult,
    panel_walk_forward,
)
from gatecast.evaluation.significance import diebold_mariano, model_confidence_set
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.types import Executor


class _Recording(GlobalRecurrentVariance):
    """A global model that keeps, per fit, the last training date and the weights."""

    log: list[tuple[pd.Timestamp, dict[str, np.ndarray]]]

    def fit(self, panel: Any, y: None = None) -> _Recording:
        super().fit(panel)
        self.log.append((max(df.index[-1] for df in panel.values()), self.warm_state()))
        return self


def _recording(log: list[Any], warm: bool = False) -> _Recording:
    m = _Recording(hidden=4, epochs=1, warm_epochs=1, warm_start=warm, device="cpu", seed=0)
    m.log = log
    return m


#: the panel's calendar: A trades every day, B starts 20 days later, C misses ten days
CALENDAR = pd.bdate_range("2010-01-01", periods=300)

PLAN = PanelWalkPlan("2010-08-02", refit_every=20, min_train=100)


def _walk(panel: dict[str, pd.DataFrame], log: list[Any], warm: bool = False) -> PanelWalkResult:
    models = {
        "lstm": functools.partial(_recording, log, warm),
        "har": functools.partial(HARForecaster, (1, 5, 22), name="har"),
    }
    return panel_walk_forward(models, panel, PLAN, warm_start=warm)


@pytest.fixture(scope="module")
def base(late_and_gapped_panel) -> tuple[PanelWalkResult, list[Any]]:
    """The walk on the unchanged panel, and its global fits' (last training date, weights)."""
    log: list[Any] = []
    return _walk(late_and_gapped_panel(CALENDAR), log), log


@pytest.mark.parametrize("instrument", ["A", "B", "C"])
@pytest.mark.parametrize("which", ["a refit date", "between refits"])
def test_a_change_after_d_moves_no_weight_and_no_forecast_up_to_d(
    late_and_gapped_panel, instrument: str, which: str, base: tuple[PanelWalkResult, list[Any]]
) -> None:
    walk0, log0 = base
    panel = late_and_gapped_panel(CALENDAR)
    refits = PLAN.refit_dates(panel)
    day = refits[2] if which == "a refit date" else refits[3] - pd.Timedelta(days=10)
    df = panel[instrument].copy()
    after = np.flatnonzero(df.index >= day)
    rng = np.random.default_rng(len(which) + ord(instrument))
    # the value dated D itself (the instrument's first row from D on) and three later ones
    rows = [after[0], *rng.choice(after[1:], 3, replace=False)]
    df.iloc[rows, 0] *= 1.8
    panel[instrument] = df
    log: list[Any] = []
    walk = _walk(panel, log)
    dates = walk.forecasts.index.get_level_values("date")
    upto = dates <= day
    # every instrument's forecasts for dates up to D: exactly the same (same code, same inputs)
    pd.testing.assert_frame_equal(walk.forecasts[upto], walk0.forecasts[upto])
    # every refit made on or before D (its training rows end before it): the same weights
    made = [(t, w) for t, w in log if t < day]
    assert len(made) == int((refits <= day).sum()) >= 3
    for (t, w), (t0, w0) in zip(made, log0, strict=False):
        assert t == t0
        for k in w:
            np.testing.assert_array_equal(w[k], w0[k])
    # and the change is seen after D (the test could fail)
    mine = walk.forecasts.xs(instrument, level="instrument")
    orig = walk0.forecasts.xs(instrument, level="instrument")
    assert not np.allclose(mine[mine.index > day], orig[orig.index > day])


def test_a_warm_chain_leaks_nothing_either(late_and_gapped_panel) -> None:
    """Warm refits (each from the last one's weights, as evaluate runs them) read no row on
    or after D either: the chain up to D is made of fits on rows before D only."""
    panel = late_and_gapped_panel(CALENDAR)
    day = PLAN.refit_dates(panel)[2]
    log0: list[Any] = []
    walk0 = _walk(panel, log0, warm=True)
    changed = dict(panel)
    b = panel["B"].copy()
    b.iloc[np.flatnonzero(b.index >= day)[[0, 5, 30]], 0] *= 0.6
    changed["B"] = b
    log: list[Any] = []
    walk = _walk(changed, log, warm=True)
    upto = walk.forecasts.index.get_level_values("date") <= day
    pd.testing.assert_frame_equal(walk.forecasts[upto], walk0.forecasts[upto])
    for (t, w), (_, w0) in zip(log[:3], log0[:3], strict=True):
        assert t < day
        for k in w:
            np.testing.assert_array_equal(w[k], w0[k])
    after = walk.forecasts.index.get_level_values("date") > day
    assert not np.allclose(walk.forecasts[after], walk0.forecasts[after])  # the change is seen


def test_refit_dates_follow_the_panels_calendar_and_each_instrument_its_own_rows(
    late_and_gapped_panel,
    base: tuple[PanelWalkResult, list[Any]],
) -> None:
    walk0, log0 = base
    panel = late_and_gapped_panel(CALENDAR)
    refits = PLAN.refit_dates(panel)
    union = pd.DatetimeIndex(sorted(set().union(*(df.index for df in panel.values()))))
    test = union[union >= pd.Timestamp("2010-08-02")]
    assert refits.equals(test[::20])
    fc = walk0.forecasts
    for n, df in panel.items():
        # every instrument's own test dates, each once, and no other date
        own = df.index[df.index >= pd.Timestamp("2010-08-02")]
        got = fc.xs(n, level="instrument").index
        assert got.equals(own)
    # one global fit per refit date (with the instruments' rows before it)
    glob = walk0.folds[walk0.folds.model == "lstm"]
    assert list(glob.train_end) == list(refits)
    assert [t for t, _ in log0] == [union[union < d][-1] for d in refits]


def test_baselines_equal_the_single_series_walk_forward(random_walk_on) -> None:
    days = pd.bdate_range("2010-01-01", periods=330)
    panel = {"X": random_walk_on(3, days, 1.0), "Y": random_walk_on(4, days, 2.0)}
    models = {
        "garch": functools.partial(ArchForecaster, "GARCH", name="garch"),
        "har": functools.partial(HARForecaster, (1, 5, 22), name="har"),
    }
    plan = PanelWalkPlan("2010-10-01", refit_every=21, min_train=150)
    walk = panel_walk_forward(models, panel, plan)
    for n, df in panel.items():
        single = walk_forward(
            models, df, WalkForwardPlan("2010-10-01", refit_every=21, min_train=150), quiet=True
        )
        pd.testing.assert_frame_equal(
            walk.forecasts.xs(n, level="instrument"),
            single.forecasts,
            check_names=False,
            check_freq=False,
        )


def test_too_short_instrument_and_unknown_reference_are_refused(
    late_and_gapped_panel,
    base: tuple[PanelWalkResult, list[Any]],
) -> None:
    panel = late_and_gapped_panel(CALENDAR)
    with pytest.raises(TooFewRowsError, match=r"instrument 'B' has 131 rows before"):
        PanelWalkPlan("2010-08-02", min_train=140).folds(
            "B", panel["B"].index, PLAN.refit_dates(panel)
        )
    with pytest.raises(ConfigError, match=r"reference 'gjr_t' is not among the models"):
        score_panel(base[0], panel)


def test_scores_against_a_hand_computation(random_walk_on) -> None:
    days = pd.bdate_range("2012-01-02", periods=61)
    panel = {"P": random_walk_on(5, days, 1.0), "Q": random_walk_on(6, days, 2.0)}
    rows = []
    rng = np.random.default_rng(7)
    for n, df in panel.items():
        r2 = (100 * np.log(df["close"]).diff()) ** 2
        d = df.index[1:]
        level = float(r2.mean())
        # ref: a constant; good: close to the truth; bad: ten times too high
        good = r2.loc[d].to_numpy() * np.exp(0.1 * rng.standard_normal(len(d))) + 1e-3
        rows.append(
            pd.DataFrame(
                {"ref": level, "good": good, "bad": 10 * level},
                index=pd.MultiIndex.from_product([[n], d], names=["instrument", "date"]),
            )
        )
    walk = PanelWalkResult(pd.concat(rows), pd.DataFrame(), 0.0)
    sc = score_panel(walk, panel, reference="ref", mcs_reps=200)
    t = sc.table.set_index(["instrument", "model"])
    for n, df in panel.items():
        p = ((100 * np.log(df["close"]).diff()) ** 2).iloc[1:].to_numpy()
        fc = walk.forecasts.xs(n, level="instrument")
        hand = {m: p / fc[m].to_numpy() - np.log(p / fc[m].to_numpy()) - 1 for m in fc}
        for m in fc:
            assert t.loc[(n, m), "qlike"] == pytest.approx(hand[m].mean(), rel=1e-12)
            assert t.loc[(n, m), "ratio"] == pytest.approx(
                hand[m].mean() / hand["ref"].mean(), rel=1e-12
            )
            assert t.loc[(n, m), "n"] == 60
        dm = diebold_mariano(hand["bad"], hand["ref"])
        assert t.loc[(n, "bad"), "dm_ref"] == pytest.approx(dm.statistic, rel=1e-9)
        assert np.isnan(t.loc[(n, "ref"), "dm_ref"])
        mcs = model_confidence_set(pd.DataFrame(hand), reps=200)
        for m in fc:
            assert t.loc[(n, m), "in_mcs"] == mcs.loc[m, "in_mcs"]
        np.testing.assert_allclose(hand["good"], qlike_loss(p, fc["good"]), rtol=1e-12)
    # pooled: the median of the two ratios, and the significant wins and losses counted
    s = sc.summary
    for m in ("ref", "good", "bad"):
        ratios = [t.loc[(n, m), "ratio"] for n in panel]
        assert s.loc[m, "median_ratio"] == pytest.approx(float(np.median(ratios)), rel=1e-12)
        sig = [t.loc[(n, m), "p_ref"] < 0.05 for n in panel]
        wins = sum(g and t.loc[(n, m), "dm_ref"] < 0 for g, n in zip(sig, panel, strict=True))
        losses = sum(g and t.loc[(n, m), "dm_ref"] > 0 for g, n in zip(sig, panel, strict=True))
        assert (s.loc[m, "wins"], s.loc[m, "losses"]) == (wins, losses)
        assert s.loc[m, "in_mcs"] == sum(t.loc[(n, m), "in_mcs"] for n in panel)
    # the constructed case is clear-cut: good wins on both, bad loses on both
    assert (s.loc["good", "wins"], s.loc["bad", "losses"]) == (2, 2)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["pool", "ray"])
def test_a_process_pool_or_ray_gives_the_numbers_of_one_process(
    late_and_gapped_panel, executor: Executor, tmp_path: Any
) -> None:
    """n_jobs=2 runs the global chain and each instrument's per-instrument models as tasks of a
    pool or of a local Ray runtime (one torch and BLAS thread per worker, either way): HAR's
    least squares and EWMA's recursion give the same forecasts to the last digit, the global
    net's within 1e-4 relative (a different thread count rounds differently). (Not GJR-t here:
    arch's optimiser on 145 rows lands 0.1% apart with one BLAS thread or two, pool or not.)
    The fold records are the same rows, and the workers' folder resumes to their own numbers
    exactly."""
    panel = late_and_gapped_panel(CALENDAR)
    models = {
        "lstm": functools.partial(
            GlobalRecurrentVariance, hidden=4, epochs=1, warm_epochs=1, device="cpu", seed=0
        ),
        "har": functools.partial(HARForecaster, (1, 5, 22), name="har"),
        "ewma": functools.partial(ArchForecaster, "EWMA", lam=0.94, name="ewma"),
    }
    here = panel_walk_forward(models, panel, PLAN)
    pool = panel_walk_forward(
        models, panel, PLAN, n_jobs=2, run_dir=tmp_path / "run", executor=executor
    )
    assert here.forecasts.index.equals(pool.forecasts.index)
    for m in ("har", "ewma"):
        np.testing.assert_allclose(pool.forecasts[m], here.forecasts[m], rtol=1e-12, err_msg=m)
    np.testing.assert_allclose(pool.forecasts["lstm"], here.forecasts["lstm"], rtol=1e-4)
    keys = ["model", "instrument", "fold"]
    assert here.folds[keys].equals(pool.folds[keys])
    # the pool's run folder resumes in one process to the same numbers (nothing refit)
    again = panel_walk_forward(models, panel, PLAN, run_dir=tmp_path / "run")
    assert again.folds["resumed"].all()
    assert np.array_equal(again.forecasts.to_numpy(), pool.forecasts.to_numpy())

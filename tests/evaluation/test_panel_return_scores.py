"""A panel walk-forward of return forecasts: no leak across dates or instruments, and the
per-instrument and pooled scores against a hand computation."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from gatecast.evaluation.panel_return_scores import score_panel_returns
from gatecast.evaluation.panel_walk import PanelWalkPlan, PanelWalkResult, panel_walk_forward
from gatecast.evaluation.significance import diebold_mariano
from gatecast.models.baselines import NoChange
from gatecast.models.linear import AR1
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

#: the panel's calendar: A trades every day, B starts 20 days later, C misses ten days
CALENDAR = pd.bdate_range("2010-01-01", periods=260)

PLAN = PanelWalkPlan("2010-08-02", refit_every=25, min_train=100)


def _walk(panel: dict[str, pd.DataFrame], warm: bool) -> PanelWalkResult:
    models = {
        "lstm": functools.partial(
            GlobalRecurrentReturn,
            hidden=4,
            layers=1,
            window=5,
            epochs=1,
            warm_epochs=1,
            warm_start=warm,
            device="cpu",
        ),
        "ar1": functools.partial(AR1, target="return"),
        "no_change": functools.partial(NoChange, target="return"),
    }
    return panel_walk_forward(models, panel, PLAN, warm_start={"lstm": warm})


@pytest.mark.parametrize("warm", [False, True])
def test_a_change_on_or_after_d_in_any_instrument_moves_no_forecast_up_to_d(
    late_and_gapped_panel, warm: bool
) -> None:
    panel = late_and_gapped_panel(CALENDAR)
    walk0 = _walk(panel, warm)
    day = PLAN.refit_dates(panel)[1] + pd.Timedelta(days=6)  # between two refits
    changed = {}
    for k, (n, df) in enumerate(panel.items()):
        df = df.copy()
        after = np.flatnonzero(df.index >= day)
        df.iloc[after[[0, 3 + k, 20]], 0] *= 1.5  # the value dated D itself and later ones
        changed[n] = df
    walk = _walk(changed, warm)
    upto = walk.forecasts.index.get_level_values("date") <= day
    pd.testing.assert_frame_equal(walk.forecasts[upto], walk0.forecasts[upto])
    after = ~upto
    assert not np.allclose(walk.forecasts["lstm"][after], walk0.forecasts["lstm"][after])


def test_scores_against_a_hand_computation() -> None:
    days = pd.bdate_range("2011-01-03", periods=40, name="date")
    rng = np.random.default_rng(3)
    panel = {
        n: pd.DataFrame({"close": 50 * np.exp(np.cumsum(0.01 * rng.standard_normal(40)))}, days)
        for n in ("X", "Y")
    }
    rows = []
    for n in panel:
        idx = pd.MultiIndex.from_product([[n], days[1:]], names=["instrument", "date"])
        rows.append(
            pd.DataFrame(
                {
                    "good": 0.01 * rng.standard_normal(39),
                    "no_change": 0.0,
                },
                index=idx,
            )
        )
    walk = PanelWalkResult(pd.concat(rows), pd.DataFrame(), 0.0)
    scores = score_panel_returns(walk, panel, reference="no_change", mcs_reps=50)
    for n, df in panel.items():
        r = np.log(df["close"]).diff().iloc[1:].to_numpy()
        fc = walk.forecasts.xs(n, level="instrument")["good"].to_numpy()
        row = scores.table[(scores.table.instrument == n) & (scores.table.model == "good")].iloc[0]
        assert row["mse"] == pytest.approx(np.mean((r - fc) ** 2))
        assert row["mae"] == pytest.approx(np.mean(np.abs(r - fc)))
        assert row["ratio"] == pytest.approx(np.mean((r - fc) ** 2) / np.mean(r**2))
        assert row["hit_rate"] == pytest.approx(np.mean(np.sign(r) == np.sign(fc)))
        dm = diebold_mariano((r - fc) ** 2, r**2)
        assert row["dm_ref"] == pytest.approx(dm.statistic)
        ref = scores.table[(scores.table.instrument == n) & (scores.table.model == "no_change")]
        assert np.isnan(ref["hit_rate"].iloc[0]) and ref["ratio"].iloc[0] == 1.0
    good = scores.table[scores.table.model == "good"]
    assert scores.summary.loc["good", "median_ratio"] == pytest.approx(good.ratio.median())
    assert scores.loss == "mse"

"""A seed ensemble on a panel (``evaluate_panel(seeds=K, ensemble=True)``): each recurrent
model is scored per instrument on its seeds' mean forecast, recomputed here by hand from the
single-seed runs; without ``ensemble`` the scores are the mean of the seeds' losses, as before;
the classical models, the per-seed table and the spread do not move; refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.evaluation.losses import qlike_loss
from gatecast.evaluation.panel_return_scores import panel_returns
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig

MODELS = "lstm,lstm_local,har"


def _panel(small_panel: Callable[..., dict[str, pd.DataFrame]]) -> gc.Panel:
    """A and B (1 and 2 percent a day), 260 business days, seed 3."""
    return gc.load_panel(small_panel({"A": 1.0, "B": 2.0}, 260, seed=3))


@pytest.fixture(scope="module")
def runs(small_panel, tiny_panel_walk) -> tuple[gc.Panel, Any, Any, dict[int, Any]]:
    """A 2-seed ensemble run, the same run without the ensemble, and each seed's own run."""
    panel = _panel(small_panel)
    kw: dict[str, Any] = {"models": MODELS, "reference": "har", **tiny_panel_walk}
    ens = gc.evaluate_panel(panel, seeds=2, ensemble=True, **kw)
    mean = gc.evaluate_panel(panel, seeds=2, **kw)
    alone = {s: gc.evaluate_panel(panel, seed=s, **kw) for s in (0, 1)}
    return panel, ens, mean, alone


def test_the_ensemble_is_scored_on_the_mean_of_the_single_seed_forecasts(
    runs: tuple[gc.Panel, Any, Any, dict[int, Any]],
) -> None:
    """Per instrument, QLIKE of the mean of the two single-seed runs' variance forecasts
    against the squared percent return, on the dates every model forecasts (rel 1e-9: a mean
    taken by a different path)."""
    panel, ens, mean, alone = runs
    table = ens.table.set_index(["instrument", "model"])
    for name in ("A", "B"):
        fc = {s: one.walk.forecasts.xs(name, level="instrument") for s, one in alone.items()}
        r = 100 * np.log(panel[name]["close"]).diff()
        for m in ("lstm", "lstm_local"):
            both = pd.concat([fc[0][m], fc[1][m], fc[0]["har"]], axis=1).dropna()
            proxy = (r**2).reindex(both.index).to_numpy()
            ensemble = (both.iloc[:, 0].to_numpy() + both.iloc[:, 1].to_numpy()) / 2
            want = qlike_loss(proxy, ensemble).mean()
            har = qlike_loss(proxy, both.iloc[:, 2].to_numpy()).mean()
            assert table.loc[(name, m), "qlike"] == pytest.approx(want, rel=1e-9)
            assert table.loc[(name, m), "ratio"] == pytest.approx(want / har, rel=1e-9)
            assert table.loc[(name, m), "n"] == len(both)
            # not the mean of the seeds' losses (the rule without --ensemble)
            seeds = [qlike_loss(proxy, both.iloc[:, k].to_numpy()).mean() for k in (0, 1)]
            assert abs(want - np.mean(seeds)) > 1e-9
            assert mean.table.set_index(["instrument", "model"]).loc[
                (name, m), "qlike"
            ] == pytest.approx(np.mean(seeds), rel=1e-9)
    assert list(ens.summary.index) == ["lstm", "lstm_local", "har"]


def test_the_ensemble_changes_only_the_recurrent_models_scores(
    runs: tuple[gc.Panel, Any, Any, dict[int, Any]],
) -> None:
    _, ens, mean, _ = runs
    # the same walk (same path, same seeds), the classical model's row, per-seed and spread
    pd.testing.assert_frame_equal(ens.walk.forecasts, mean.walk.forecasts)
    a, b = (r.table.set_index(["instrument", "model"]) for r in (ens, mean))
    pd.testing.assert_series_equal(a.loc[("A", "har")], b.loc[("A", "har")])
    pd.testing.assert_frame_equal(ens.seeds.per_seed, mean.seeds.per_seed)
    pd.testing.assert_frame_equal(ens.seeds.spread, mean.seeds.spread)
    assert not np.isclose(a.loc[("A", "lstm"), "qlike"], b.loc[("A", "lstm"), "qlike"])


def test_a_return_ensemble_is_scored_on_the_mean_return_forecast(
    small_panel, tiny_panel_walk
) -> None:
    """A return target: MSE of the seeds' mean forecast of the log return."""
    panel = _panel(small_panel)
    kw: dict[str, Any] = {"models": "lstm,no_change", "target": "return", **tiny_panel_walk}
    ens = gc.evaluate_panel(panel, seeds=2, ensemble=True, **kw)
    fc = ens.walk.forecasts
    table = ens.table.set_index(["instrument", "model"])
    for name in ("A", "B"):
        own = fc.xs(name, level="instrument").dropna()
        actual = panel_returns(panel[name], None).reindex(own.index).to_numpy()
        mean = (own["lstm[s0]"].to_numpy() + own["lstm[s1]"].to_numpy()) / 2
        assert table.loc[(name, "lstm"), "mse"] == pytest.approx(
            np.mean((actual - mean) ** 2), rel=1e-9
        )


def test_an_ensemble_needs_two_seeds(small_panel, tiny_panel_walk) -> None:
    with pytest.raises(ConfigError, match=r"ensemble=True \(--ensemble\).*seeds=1"):
        gc.evaluate_panel(
            _panel(small_panel), models=MODELS, reference="har", ensemble=True, **tiny_panel_walk
        )
    with pytest.raises(ConfigError, match=r"seeds=1; use seeds 2 or more"):
        PanelEvaluationConfig(data=_panel(small_panel), test_start="2010-10-01", ensemble=True)

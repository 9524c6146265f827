"""gc.evaluate_panel(target="return"): the global return model, the local one, the baselines,
the scores and the refusals."""

from __future__ import annotations

import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig
from gatecast.experiment.panel_returns import return_factories
from gatecast.models.linear import AR1
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn


@pytest.fixture
def panel(small_panel) -> gc.Panel:
    """Three instruments on the same 260 business days."""
    return gc.load_panel(small_panel({"A": 1.0, "B": 2.0, "C": 0.7}, 260))


def test_evaluate_panel_of_returns_runs_every_model_and_scores_against_no_change(panel) -> None:
    res = gc.evaluate_panel(
        panel,
        test_start="2010-10-01",
        target="return",
        models="lstm,lstm_local,no_change,historical_mean,ar1",
        hidden=4,
        window=5,
        epochs=1,
        warm_epochs=1,
        refit_every=40,
        min_train=150,
        device="cpu",
        mcs_reps=50,
    )
    assert res.scores.reference == "no_change" and res.scores.loss == "mse"
    assert set(res.table.instrument) == {"A", "B", "C"}
    assert list(res.summary.index) == ["lstm", "lstm_local", "no_change", "historical_mean", "ar1"]
    assert (res.table.loc[res.table.model == "no_change", "ratio"] == 1.0).all()
    assert {"mse", "mae", "hit_rate", "dm_ref", "p_ref", "in_mcs"} <= set(res.table.columns)
    folds = res.walk.folds
    # one global fit per refit date; the local LSTM once per instrument and date
    assert (folds.loc[folds.model == "lstm", "instrument"] == "*").all()
    assert len(folds[folds.model == "lstm_local"]) == 3 * len(folds[folds.model == "lstm"])
    # no change forecasts a zero return
    assert (res.walk.forecasts["no_change"] == 0.0).all()


def test_names_map_to_global_local_and_baseline_return_models() -> None:
    f = return_factories(["gru", "lstm_local", "ar1"], window=7)
    g = f["gru"]()
    assert isinstance(g, GlobalRecurrentReturn) and (g.cell, g.window, g.layers) == ("gru", 7, 1)
    assert isinstance(f["lstm_local"](), RecurrentForecaster)
    assert isinstance(f["ar1"](), AR1)
    with pytest.raises(ConfigError, match="gjr_t"):
        return_factories(["gjr_t"])


def test_refusals_before_any_fit(panel) -> None:
    with pytest.raises(ConfigError, match="--proxy parkinson does not apply"):
        gc.evaluate_panel(panel, test_start="2010-10-01", target="return", proxy="parkinson")
    with pytest.raises(ConfigError, match="variance, return and direction targets"):
        gc.evaluate_panel(panel, test_start="2010-10-01", target="price")
    with pytest.raises(ConfigError, match="reference 'ar1' is not among"):
        gc.evaluate_panel(
            panel, test_start="2010-10-01", target="return", models="lstm", reference="ar1"
        )
    cfg = PanelEvaluationConfig(data=panel, target="return", test_start="2010-10-01")
    assert cfg.models == ("lstm", "no_change", "historical_mean", "ar1")
    assert (cfg.window, cfg.reference) == (22, "no_change")

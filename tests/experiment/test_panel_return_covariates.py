"""Covariates with a return target on a panel: the global return model reading them as inputs,
ARX (AR(1) with the covariates as regressors) beside AR(1), the ablation's models and table, no
forecast reading a covariate value dated on or after its date, and the refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
import gatecast.experiment.panel_covariates as panel_covariates_module
from gatecast.errors import ConfigError
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig
from gatecast.experiment.panel_returns import return_covariate_models
from gatecast.models.linear import ARX
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn


@pytest.fixture
def panel(small_panel) -> gc.Panel:
    """Three instruments; B misses five days and C starts 30 days late."""
    return gc.load_panel(
        small_panel({"A": 1.0, "B": 2.0, "C": 1.5}, 400, missing={"B": (300, 305), "C": (0, 30)})
    )


def _evaluate(panel: gc.Panel, models: str = "no_change,ar1") -> gc.PanelEvaluation:
    return gc.evaluate_panel(
        panel,
        test_start="2011-01-03",
        target="return",
        models=models,
        covariates="vix",
        refit_every=40,
        min_train=150,
        mcs_reps=100,
        hidden=4,
        window=5,
        epochs=1,
        warm_epochs=1,
        device="cpu",
    )


def test_the_ablation_models_of_a_return_target() -> None:
    groups, models = return_covariate_models(("sp500", "vix"), ("lstm", "no_change", "ar1"))
    assert groups == ("sp500", "vix")
    assert models == (
        "lstm",
        "lstm+sp500",
        "lstm+vix",
        "lstm+sp500+vix",
        "no_change",
        "ar1",
        "arx+sp500",
        "arx+vix",
        "arx+sp500+vix",
    )
    assert return_covariate_models("vix", ("no_change", "arx", "gru_local"))[1] == (
        "no_change",
        "arx+vix",
        "gru_local",
        "gru_local+vix",
    )
    assert return_covariate_models((), ("lstm", "ar1")) == ((), ("lstm", "ar1"))
    cfg = PanelEvaluationConfig(target="return", covariates=("sp500",))
    assert cfg.models == (
        "lstm",
        "lstm+sp500",
        "no_change",
        "historical_mean",
        "ar1",
        "arx+sp500",
    )
    f = cfg.factories()
    arx = f["arx+sp500"]()
    assert isinstance(arx, ARX) and arx.name == "arx+sp500"
    assert arx.covariates == ("sp500_return", "sp500_log_parkinson")
    net = f["lstm+sp500"]()
    assert isinstance(net, GlobalRecurrentReturn) and net.cell == "lstm"
    assert net.covariates == ("sp500_return", "sp500_log_parkinson")
    local = PanelEvaluationConfig(
        target="return", models=("lstm_local", "no_change"), covariates=("vix",)
    )
    assert local.models == ("lstm_local", "lstm_local+vix", "no_change")
    model = local.factories()["lstm_local+vix"]()
    assert isinstance(model, RecurrentForecaster) and model.covariates == ("vix_log",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"models": ("no_change", "arx")}, "arx is AR\\(1\\) with covariates as regressors"),
        ({"models": ("ar1", "arx+vix")}, "reads the covariate\\(s\\) vix, which --covariates"),
        (
            {"models": ("historical_mean+vix", "ar1"), "covariates": ("vix",)},
            "historical_mean does not; name it without them",
        ),
        ({"models": ("no_change", "historical_mean"), "covariates": ("vix",)}, "has none of"),
        ({"covariates": ("vxx",)}, "covariate 'vxx' is unknown"),
        ({"covariates": ("vix", "vix")}, "name a group twice"),
    ],
)
def test_covariate_settings_refused_on_a_return_panel(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PanelEvaluationConfig(target="return", **settings)


def test_arx_runs_beside_ar1_and_the_ablation_compares_them(
    panel,
    synthetic_vix: dict[str, pd.DataFrame],
) -> None:
    """arx+vix per instrument is ARX fit on that instrument's joined rows before its refit
    date (to 1e-12: the same lstsq on the same rows), and the ablation's ratio_to_without is
    the median over instruments of its MSE over ar1's."""
    res = _evaluate(panel)
    assert list(res.summary.index) == ["no_change", "ar1", "arx+vix"]
    fc = res.walk.forecasts
    folds = res.walk.folds
    joined = panel_covariates_module.join_panel_covariates(panel, ["vix"])
    first = folds[(folds.model == "arx+vix") & (folds.instrument == "B")].iloc[0]
    start = pd.Timestamp(first["test_start"])
    b = joined["B"]
    alone = ARX(("vix_log",)).fit(b.loc[b.index < start]).predict(b, start=start)
    got = fc.loc["B", "arx+vix"].dropna()
    both = got.index.intersection(alone.index)[:20]
    assert len(both) == 20
    np.testing.assert_allclose(got[both], alone[both], rtol=0, atol=1e-12)
    t = res.table.set_index(["model", "instrument"])
    ratios = t.loc["arx+vix", "mse"] / t.loc["ar1", "mse"]
    row = res.ablation.loc["arx+vix"]
    assert row["without"] == "ar1" and row["instruments"] == 3
    assert row["ratio_to_without"] == pytest.approx(float(ratios.median()), rel=1e-12)


def test_no_return_forecast_reads_a_covariate_value_dated_after_it(
    panel,
    synthetic_vix: dict[str, pd.DataFrame],
) -> None:
    """Change the covariate after a date D: no forecast for a date up to D changes, for any
    model or instrument, nor each instrument's forecast for its row after D (made at D's
    close); the one after that does, for the global LSTM and ARX with the covariate. Change its
    value dated D: the forecast for the row after D changes; the models without it change
    nowhere."""
    models = "lstm,no_change,ar1"
    base = _evaluate(panel, models).walk.forecasts
    vix = synthetic_vix["vix"]
    day = pd.Timestamp("2011-03-15")  # inside the test, not a refit date
    assert all(day in df.index for df in panel.values())
    synthetic_vix["vix"] = moved = vix.copy()
    moved.loc[moved.index > day] += 1.0
    later = _evaluate(panel, models).walk.forecasts
    synthetic_vix["vix"] = moved = vix.copy()
    moved.loc[day] += 3.0
    on_day = _evaluate(panel, models).walk.forecasts
    up_to = base.index.get_level_values("date") <= day
    assert up_to.sum() > 3 * 40 and (~up_to).sum() > 0
    for changed in (later, on_day):
        pd.testing.assert_frame_equal(changed[up_to], base[up_to])
        same = ["lstm", "no_change", "ar1"]  # those that do not read it change nowhere
        pd.testing.assert_frame_equal(changed[same], base[same])
    for name in panel:
        i = panel[name].index.get_loc(day)
        nxt, after = ((name, panel[name].index[i + k]) for k in (1, 2))
        pd.testing.assert_series_equal(later.loc[nxt], base.loc[nxt])
        for m in ("lstm+vix", "arx+vix"):
            assert on_day.loc[nxt, m] != pytest.approx(base.loc[nxt, m], rel=1e-9), (name, m)
            assert later.loc[after, m] != pytest.approx(base.loc[after, m], rel=1e-9), (name, m)

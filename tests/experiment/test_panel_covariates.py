"""Covariates on a panel: each instrument's join is the single-series join on it alone, no
forecast reads a covariate value dated on or after its own date, har_x per instrument is the
single-series HAR-X walk, the ablation's models and table, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.data.covariates import join_covariates
from gatecast.errors import ConfigError, DataError
from gatecast.experiment.panel_covariates import (
    join_panel_covariates,
    panel_ablation_table,
    panel_covariate_models,
)
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, panel_factories
from gatecast.models.har import HARXForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

DAYS = pd.bdate_range("2010-01-01", periods=400, name="date")


#: three instruments' volatilities; unless aligned, B misses five days and C starts 30 days late
VOLS = {"A": 1.0, "B": 2.0, "C": 1.5}
UNALIGNED = {"B": (300, 305), "C": (0, 30)}


@pytest.fixture
def panel(small_panel) -> gc.Panel:
    """Three instruments on DAYS; B misses five days and C starts 30 days late."""
    return gc.load_panel(small_panel(VOLS, len(DAYS), missing=UNALIGNED))


def test_each_instruments_join_is_the_single_series_join_on_it_alone(vix_frame, panel) -> None:
    vix = vix_frame(start="2010-01-20", periods=420)
    joined = join_panel_covariates(panel, ["vix"], values={"vix": vix})
    for name, df in panel.items():
        alone, _ = join_covariates(df, ["vix"], values={"vix": vix})
        pd.testing.assert_frame_equal(joined[name], alone, check_flags=False)
    # A and B start before the covariate: their first rows are left out, and said; C not
    assert joined["A"].index[0] == pd.Timestamp("2010-01-20")
    assert joined["C"].index[0] == DAYS[30]
    assert len(joined.notes) == 1 and "A 13, B 13" in joined.notes[0]
    assert "C " not in joined.notes[0]
    # B's missing days stay missing: a row is never invented
    assert not joined["B"].index.isin(DAYS[300:305]).any()


def test_a_covariate_ending_before_an_instrument_is_refused_naming_it_or_cut_at_test_end(
    vix_frame,
    panel,
) -> None:
    short = vix_frame(periods=300)  # ends 2011-01-24, the data in 2011-07
    with pytest.raises(DataError) as err:
        join_panel_covariates(panel, ["vix"], values={"vix": short})
    text = str(err.value)
    assert "covariate 'vix' has no value within 7 days before 2011-02-01" in text
    assert "instrument 'A' of" in text and "it covers 2009-12-01 .. 2011-01-24" in text
    assert "--test-end / test_end ends every instrument there" in text
    cut = join_panel_covariates(panel, ["vix"], values={"vix": short}, test_end="2011-01-24")
    assert all(df.index[-1] <= pd.Timestamp("2011-01-24") for df in cut.values())
    assert any("rows after test_end 2011-01-24 were left out" in n for n in cut.notes)


def test_the_ablation_models_of_a_panel() -> None:
    groups, models = panel_covariate_models(("sp500", "vix"), ("lstm", "lstm_local", "gjr_t"))
    assert groups == ("sp500", "vix")
    assert models == (
        "lstm",
        "lstm+sp500",
        "lstm+vix",
        "lstm+sp500+vix",
        "lstm_local",
        "lstm_local+sp500",
        "lstm_local+vix",
        "lstm_local+sp500+vix",
        "gjr_t",
    )
    assert panel_covariate_models("sp500", ("har", "har_x", "gjr_t"))[1] == (
        "har",
        "har_x+sp500",
        "gjr_t",
    )
    cfg = PanelEvaluationConfig(models=("lstm", "gjr_t", "har"), covariates=("sp500",))
    assert cfg.models == ("lstm", "lstm+sp500", "gjr_t", "har", "har_x+sp500")
    f = cfg.factories()
    model = f["lstm+sp500"]()
    assert isinstance(model, GlobalRecurrentVariance)
    assert model.covariates == ("sp500_return", "sp500_log_parkinson")
    harx = f["har_x+sp500"]()
    assert isinstance(harx, HARXForecaster) and harx.name == "har_x+sp500"
    local = panel_factories(["lstm_local+vix"])["lstm_local+vix"]()
    assert local.covariates == ("vix_log",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"covariates": ("vxx",)}, "covariate 'vxx' is unknown; choose from vix, nasdaq, sp500"),
        ({"models": ("gjr_t", "garch"), "covariates": ("vix",)}, "has none of them"),
        ({"models": ("gjr_t", "har_x")}, "har_x is HAR with covariates as regressors"),
        ({"models": ("gjr_t", "lstm+vix")}, "model lstm\\+vix reads the covariate\\(s\\) vix"),
        (
            {"models": ("gjr_t", "lstm+nasdaq"), "covariates": ("vix",)},
            "reads the covariate\\(s\\) nasdaq, which --covariates \\(vix\\) does not name",
        ),
        ({"models": ("gjr_t+vix",), "covariates": ("vix",)}, "cannot forecast a variance"),
        ({"covariates": ("vix", "vix")}, "name a group twice"),
    ],
)
def test_covariate_settings_refused_on_a_panel(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PanelEvaluationConfig(**settings)


def _evaluate(panel: gc.Panel, models: str = "lstm,har", **kw: object) -> gc.PanelEvaluation:
    settings: dict = dict(
        test_start="2011-01-03",
        models=models,
        covariates="vix",
        reference="har",
        hidden=4,
        epochs=1,
        warm_epochs=1,
        refit_every=40,
        min_train=150,
        device="cpu",
        mcs_reps=100,
    )
    return gc.evaluate_panel(panel, **(settings | kw))


def test_no_forecast_reads_a_covariate_value_dated_on_or_after_its_date(
    panel,
    synthetic_vix: dict[str, pd.DataFrame],
) -> None:
    """Change the covariate after a date D: no forecast for a date up to D (nor for each
    instrument's next row, made at D's close) changes, for any model or instrument; the one
    after does. Change its value dated D: no forecast up to D changes, and each instrument's
    forecast for its first row after D does, for the models that read it (the global LSTM and
    HAR-X); those that do not read it change nowhere."""
    base = _evaluate(panel).walk.forecasts
    vix = synthetic_vix["vix"]
    day = pd.Timestamp("2011-03-15")  # inside the test, not a refit date; every instrument's
    assert all(day in df.index for df in panel.values())

    synthetic_vix["vix"] = moved = vix.copy()
    moved.loc[moved.index > day] += 1.0
    later = _evaluate(panel).walk.forecasts
    synthetic_vix["vix"] = moved = vix.copy()
    moved.loc[day] += 3.0
    on_day = _evaluate(panel).walk.forecasts

    dates = base.index.get_level_values("date")
    up_to = dates <= day
    assert up_to.sum() > 3 * 40 and (~up_to).sum() > 0
    for changed in (later, on_day):
        pd.testing.assert_frame_equal(changed[up_to], base[up_to])
        pd.testing.assert_frame_equal(changed[["lstm", "har"]], base[["lstm", "har"]])
    for name in panel:
        i = panel[name].index.get_loc(day)
        nxt, after = ((name, panel[name].index[i + k]) for k in (1, 2))
        # the forecast for the row after D reads values dated up to D: changed by D's only
        pd.testing.assert_series_equal(later.loc[nxt], base.loc[nxt])
        for m in ("lstm+vix", "har_x+vix"):
            assert on_day.loc[nxt, m] != pytest.approx(base.loc[nxt, m], rel=1e-9), (name, m)
            assert later.loc[after, m] != pytest.approx(base.loc[after, m], rel=1e-9), (name, m)


def test_har_x_on_each_instrument_is_the_single_series_har_x_walk(
    small_panel,
    synthetic_vix: dict[str, pd.DataFrame],
) -> None:
    """On aligned calendars the panel's refit dates are each instrument's own, and har_x+vix
    per instrument is gc.evaluate's HAR-X on that instrument alone (to 1e-12: the same OLS on
    the same rows, reached through the two commands' own set-ups)."""
    panel = gc.load_panel(small_panel(VOLS, len(DAYS)))
    res = _evaluate(panel, models="gjr_t,har", reference="gjr_t")
    assert list(res.summary.index) == ["gjr_t", "har", "har_x+vix"]
    for name in ("A", "C"):
        alone = gc.evaluate(
            panel[name],
            models="har",
            covariates=("vix",),
            test_start="2011-01-03",
            refit_every=40,
            n_jobs=1,
            quiet=True,
            mcs_reps=100,
        )
        single = alone.forecasts["har_x+vix"]
        ours = res.walk.forecasts.xs(name, level="instrument")["har_x+vix"]
        assert len(ours) > 100
        np.testing.assert_allclose(ours.to_numpy(), single.reindex(ours.index), rtol=1e-12)


def test_the_global_model_reads_the_covariates_scaled_per_instrument(
    panel, synthetic_vix: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    joined = join_panel_covariates(panel, ["vix"])
    train = {n: df.loc[:"2010-12-31"] for n, df in joined.items()}
    model = GlobalRecurrentVariance(hidden=4, epochs=1, device="cpu", covariates=("vix_log",))
    model.fit(train)
    assert model.resolved_.features[-1] == "vix_log"
    # each instrument's scaler covers the covariate on its own training rows only
    for n, df in train.items():
        f, _, _ = model._local().training_frames(df, model.resolved_)
        end = pd.Timestamp(model.train_ranges_[n][1])
        rows = f.loc[f.index <= end].dropna()["vix_log"]  # rows with every input
        assert model.scalers_[n].shift_[-1] == pytest.approx(rows.mean(), rel=1e-9)
    # its single-series view predicts from the same columns
    fc = model.predict_instrument("A", joined["A"], start="2011-01-03")
    assert np.isfinite(fc.to_numpy()).all() and len(fc) > 100
    with pytest.raises(ConfigError, match=r"covariate column\(s\) \['vix_log'\]"):
        model.predict_instrument("A", panel["A"], start="2011-01-03")
    # its model folder keeps the covariates: loaded, it forecasts the same numbers
    back = GlobalRecurrentVariance.load(model.save(tmp_path / "global"))
    assert back.covariates == ("vix_log",)
    pd.testing.assert_series_equal(back.predict_instrument("A", joined["A"], "2011-01-03"), fc)


def test_the_ablation_table_is_recomputed_from_the_per_instrument_table(
    panel,
    synthetic_vix: dict[str, pd.DataFrame],
) -> None:
    res = _evaluate(panel, models="lstm,lstm_local,har")
    ab = res.ablation
    assert ab is not None
    assert list(ab.index) == ["lstm+vix", "lstm_local+vix", "har_x+vix"]
    assert list(ab["without"]) == ["lstm", "lstm_local", "har"]
    t = res.table.set_index(["model", "instrument"])
    for m, row in ab.iterrows():
        w, wo = t.loc[m], t.loc[row["without"]]
        assert row["median_ratio"] == pytest.approx(np.median(w["ratio"]))
        assert row["median_ratio_without"] == pytest.approx(np.median(wo["ratio"]))
        assert row["ratio_to_without"] == pytest.approx(np.median(w["qlike"] / wo["qlike"]))
        assert row["in_mcs"] == w["in_mcs"].sum() and row["instruments"] == 3
    # the per-instrument table pairs each with its own: HAR-X's forecasts are not HAR's
    fc = res.walk.forecasts
    assert not np.allclose(fc["har_x+vix"], fc["har"])
    assert panel_ablation_table(res.table, ("lstm", "har")).empty

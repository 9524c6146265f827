"""evaluate --covariates on one series with a return or direction target: the recurrent models
read the covariate columns, ``ar1`` stands beside ``arx`` (ARX on the same covariates), the
ablation pairs them as on a panel, no forecast reads a covariate value dated after it, and the
settings it refuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.covariates import join_covariates
from gatecast.errors import ConfigError
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models
from gatecast.models.linear import ARX

TINY = {
    "recurrent_epochs": 1,
    "warm_epochs": 1,
    "hidden": 4,
    "n_jobs": 1,
    "quiet": True,
    "mcs_reps": 100,
}


@pytest.mark.parametrize(
    ("target", "models", "expected"),
    [
        (
            "return",
            (),
            ("lstm", "lstm+vix", "no_change", "historical_mean", "ar1", "arx+vix"),
        ),
        (
            "direction",
            (),
            ("lstm", "lstm+vix", "always_up", "no_change", "historical_mean", "ar1", "arx+vix"),
        ),
        ("return", ("gru", "arx"), ("gru", "gru+vix", "arx+vix")),
        ("return", ("lstm", "no-change"), ("lstm", "lstm+vix", "no_change")),
    ],
)
def test_the_ablation_pairs_each_reader_with_its_variant(target, models, expected) -> None:
    cfg = EvaluationConfig(target=target, models=models, covariates=("vix",))
    assert cfg.models == expected
    two = EvaluationConfig(target="return", models=("ar1",), covariates=("vix", "nasdaq"))
    assert two.models == ("ar1", "arx+vix", "arx+nasdaq", "arx+vix+nasdaq")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"models": ("arx",)}, "arx is AR\\(1\\) with covariates as regressors: name them"),
        ({"models": ("lstm+vix",)}, "vix, which --covariates \\(none\\) does not name"),
        ({"models": ("lstm_local",), "covariates": ("vix",)}, "lstm_local is a panel model"),
        (
            {"models": ("no_change",), "covariates": ("vix",)},
            "--models no_change has none of them; add lstm or ar1",
        ),
        (
            {"target": "direction", "models": ("always_up+vix",), "covariates": ("vix",)},
            "on a direction target the recurrent models and arx read covariates",
        ),
        ({"covariates": ("vix",), "intervals": 0.9}, "--intervals with --covariates"),
        ({"models": ("lstm+nasdaq",), "covariates": ("vix",)}, "nasdaq, which --covariates"),
    ],
)
def test_return_covariate_settings_refused(settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        EvaluationConfig(**({"target": "return"} | settings))


def test_arx_for_direction_is_the_sign_of_its_return_forecast() -> None:
    """The same OLS as ARX on the return: its call is 1.0 where that forecast is > 0."""
    df, _ = join_covariates(load("sp500").loc["2014":"2015"], ["vix"])
    train = df.loc[:"2015-06"]
    ret = ARX(("vix_log",)).fit(train).predict(df, start="2015-07-01")
    up = ARX(("vix_log",), target="direction").fit(train).predict(df, start="2015-07-01")
    pd.testing.assert_index_equal(up.index, ret.index)
    assert ((ret > 0).astype(float) == up).all() and 0 < up.mean() < 1


def test_evaluate_returns_with_vix_scores_the_ablation(tmp_path) -> None:
    cfg = EvaluationConfig(
        target="return",
        models=("lstm", "no_change", "ar1"),
        covariates=("vix",),
        test_start="2018-07-02",
        refit_every=126,
        out=str(tmp_path / "run"),
        **TINY,
    )
    res = evaluate_models(cfg)
    board = res.leaderboard
    assert set(board.index) == {"lstm", "lstm+vix", "no_change", "ar1", "arx+vix"}
    assert res.reference == "no_change" and res.primary_loss == "mse"
    ab = res.ablation
    assert ab is not None
    assert list(ab.index) == ["lstm+vix", "arx+vix"] and list(ab["without"]) == ["lstm", "ar1"]
    for m, row in ab.iterrows():
        assert row["mse_with"] == pytest.approx(board.loc[m, "mse"])
        assert row["mse_without"] == pytest.approx(board.loc[row["without"], "mse"])
        diff = res.losses[m] - res.losses[row["without"]]
        assert np.sign(row["dm"]) == np.sign(diff.mean())
    # arx+vix of the first fold is ARX fit on the joined rows before the fold (the same lstsq
    # on the same rows: to 1e-12)
    joined, _ = join_covariates(load("sp500"), ["vix"])
    folds = res.walk.folds
    start = pd.Timestamp(folds.loc[folds["model"] == "arx+vix", "test_start"].iloc[0])
    alone = ARX(("vix_log",)).fit(joined.loc[joined.index < start]).predict(joined, start=start)
    got = res.forecasts["arx+vix"]
    both = got.index.intersection(alone.index)[:40]
    assert len(both) == 40
    np.testing.assert_allclose(got[both], alone[both], rtol=0, atol=1e-12)
    # the recurrent model reads the covariate: its forecasts differ from lstm's
    assert not np.allclose(res.forecasts["lstm+vix"], res.forecasts["lstm"])
    written = pd.read_csv(tmp_path / "run" / "ablation.csv", index_col="model")
    assert list(written.index) == ["lstm+vix", "arx+vix"]


def test_evaluate_direction_with_vix_pairs_lstm_and_arx() -> None:
    cfg = EvaluationConfig(
        target="direction",
        models=("lstm", "ar1"),
        covariates=("vix",),
        test_start="2018-07-02",
        refit_every=126,
        **TINY,
    )
    res = evaluate_models(cfg)
    assert res.primary_loss == "brier"
    ab = res.ablation
    assert ab is not None and list(ab["without"]) == ["lstm", "ar1"]
    lstm = res.forecasts["lstm+vix"]
    assert ((lstm > 0) & (lstm < 1)).all()  # a probability
    assert set(np.unique(res.forecasts["arx+vix"])) <= {0.0, 1.0}  # ar1's hard call


def test_no_return_forecast_reads_a_covariate_value_dated_after_it(moved_vix) -> None:
    """Change the VIX after a date D: no forecast for a date up to D changes, nor the forecast
    for the row after D (made at D's close); the one after that does, for lstm+vix and
    arx+vix. Change its value dated D: the forecast for the row after D changes; the models
    without it change nowhere."""
    data = load("sp500").loc["2014":"2016-06"]
    cfg = {
        "data": data,
        "target": "return",
        "models": ("lstm", "ar1"),
        "covariates": ("vix",),
        "test_start": "2016-01-04",
        "refit_every": 63,
        **TINY,
    }

    def forecasts() -> pd.DataFrame:
        out: pd.DataFrame = evaluate_models(EvaluationConfig(**cfg)).walk.forecasts
        return out

    base = forecasts()
    vix = moved_vix["vix"]
    day = pd.Timestamp("2016-02-16")  # inside the test, not a refit date
    i = data.index.get_loc(day)
    nxt, after = data.index[i + 1], data.index[i + 2]
    moved_vix["vix"] = moved = vix.copy()
    moved.loc[moved.index > day, "vix_log"] += 1.0
    later = forecasts()
    moved_vix["vix"] = moved = vix.copy()
    moved.loc[day, "vix_log"] += 1.0
    on_day = forecasts()
    up_to = base.index <= day
    assert up_to.sum() > 20
    for changed in (later, on_day):
        pd.testing.assert_frame_equal(changed[up_to], base[up_to])
        pd.testing.assert_frame_equal(changed[["lstm[s0]", "ar1"]], base[["lstm[s0]", "ar1"]])
    pd.testing.assert_series_equal(later.loc[nxt], base.loc[nxt])
    for m in ("lstm+vix[s0]", "arx+vix"):
        assert on_day.loc[nxt, m] != pytest.approx(base.loc[nxt, m], rel=1e-9), m
        assert later.loc[after, m] != pytest.approx(base.loc[after, m], rel=1e-9), m

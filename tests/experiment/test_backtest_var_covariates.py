"""backtest and var with covariates, on one series and a panel: the models read the groups as
evaluate's do (``lstm`` beside ``lstm+vix``, ``ar1`` beside ``arx+vix``, ``har`` beside
``har_x+vix``), each a row of the table; no position or VaR made up to a date reads a covariate
value dated after it; what does not apply is refused before any fit; ``from_run`` of an
evaluation with covariates trades its forecasts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
import gatecast.data.covariates as covariates_module
from gatecast.errors import ConfigError
from gatecast.experiment.backtest import BacktestConfig
from gatecast.experiment.panel_var import PanelVarConfig
from gatecast.experiment.var import VarConfig

TINY = {"recurrent_epochs": 1, "warm_epochs": 1, "hidden": 4, "n_jobs": 1, "quiet": True}
WALK = {"test_start": "2016-01-04", "refit_every": 63}
DAY = pd.Timestamp("2016-02-16")  # inside the test, not a refit date


def _data() -> pd.DataFrame:
    return gc.load("sp500").loc["2014":"2016-06"]


def _moved(vix: pd.DataFrame, where: np.ndarray | pd.Index) -> pd.DataFrame:
    out = vix.copy()
    out.loc[where, "vix_log"] += 1.0
    return out


# -- settings, checked before any fit ---------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "models", "expected"),
    [
        ("sign", ("lstm", "ar1"), ("lstm", "lstm+vix", "ar1", "arx+vix")),
        ("sign", (), ("lstm", "lstm+vix", "gru", "gru+vix", "ar1", "arx+vix")),
        ("threshold", ("lstm", "always_up"), ("lstm", "lstm+vix", "always_up")),
        ("vol_target", ("lstm", "har", "garch"), ("lstm", "lstm+vix", "har", "har_x+vix", "garch")),
    ],
)
def test_a_backtest_with_covariates_walks_the_ablation(rule, models, expected) -> None:
    cfg = BacktestConfig(rule=rule, models=models, covariates=("vix",))
    assert cfg.evaluation().models == expected
    assert cfg.evaluation().covariates == ("vix",)


def test_var_with_covariates_walks_the_ablation() -> None:
    cfg = VarConfig(models=("lstm", "har", "gjr_t"), covariates=("vix",))
    assert cfg.evaluation().models == ("lstm", "lstm+vix", "har", "har_x+vix", "gjr_t")
    panel = PanelVarConfig(data="arch_panel", models=("lstm", "har"), covariates=("vix",))
    assert panel.evaluation().models == ("lstm", "lstm+vix", "har", "har_x+vix")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: BacktestConfig(models=("no_change",), covariates=("vix",)),
            "--models no_change has none of them; add lstm or ar1",
        ),
        (
            lambda: BacktestConfig(rule="vol_target", models=("garch",), covariates=("vix",)),
            "--models garch has none of them; add lstm or har",
        ),
        (
            lambda: BacktestConfig(models=("no_change+vix",), covariates=("vix",)),
            "no_change does not; name it without them",
        ),
        (lambda: BacktestConfig(covariates=("vxx",)), "covariate 'vxx' is unknown"),
        (
            lambda: VarConfig(models=("garch", "gjr_t"), covariates=("vix",)),
            "--models garch,gjr_t has none of them; add lstm or har",
        ),
        (
            lambda: VarConfig(models=("lstm+nasdaq",), covariates=("vix",)),
            "nasdaq, which --covariates \\(vix\\) does not name",
        ),
        (
            lambda: PanelVarConfig(data="arch_panel", models=("garch",), covariates=("vix",)),
            "--models garch has none of them; add lstm or har",
        ),
    ],
)
def test_covariates_no_model_reads_are_refused(make, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


# -- one series ---------------------------------------------------------------------------------
def test_backtest_with_vix_trades_each_model_beside_its_covariate_variant(tmp_path: Path) -> None:
    """The rows of the table are the walk's models and the benchmarks; the positions traded
    are the sign of the forecasts written under evaluation/ (the rule's oracle), and the
    benchmarks trade the rows the covariate covers."""
    bt = gc.backtest(
        _data(), models="lstm,ar1", covariates=("vix",), out=tmp_path / "bt", **WALK, **TINY
    )
    assert list(bt.table.index) == [
        "lstm",
        "lstm+vix",
        "ar1",
        "arx+vix",
        "buy_and_hold",
        "garch_vol_target",
    ]
    fc = pd.read_parquet(tmp_path / "bt" / "evaluation" / "forecasts.parquet")
    arx = fc["arx+vix"].dropna()
    positions = bt.trades.positions["arx+vix"]
    assert len(positions) == len(arx) > 100
    np.testing.assert_array_equal(positions.to_numpy(), np.sign(arx.to_numpy()))
    assert (positions.to_numpy() != np.sign(fc["ar1"].dropna().to_numpy())).any()
    assert bt.config.covariates == ("vix",)


def test_no_position_reads_a_covariate_value_dated_after_it(moved_vix, tmp_path: Path) -> None:
    """Change the VIX after a date D: no position set up to D's close changes (the last one is
    for the row after D); change its value dated D: the forecast for the row after D, which
    sets the position at D's close, changes, and no position before it."""
    data = _data()
    nxt = data.index[data.index.get_loc(DAY) + 1]

    def run(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        bt = gc.backtest(
            data, models="lstm,ar1", covariates=("vix",), out=tmp_path / name, **WALK, **TINY
        )
        fc = pd.read_parquet(tmp_path / name / "evaluation" / "forecasts.parquet")
        return bt.trades.positions, fc

    base, base_fc = run("base")
    vix = moved_vix["vix"]
    moved_vix["vix"] = _moved(vix, vix.index > DAY)
    later, later_fc = run("later")
    moved_vix["vix"] = _moved(vix, vix.index == DAY)
    on_day, on_day_fc = run("on_day")
    assert (base.index <= DAY).sum() > 20
    pd.testing.assert_frame_equal(later[later.index <= DAY], base[base.index <= DAY])
    pd.testing.assert_frame_equal(on_day[on_day.index < DAY], base[base.index < DAY])
    assert later_fc.loc[nxt, "arx+vix"] == base_fc.loc[nxt, "arx+vix"]
    assert on_day_fc.loc[nxt, "arx+vix"] != pytest.approx(base_fc.loc[nxt, "arx+vix"], rel=1e-9)
    assert (later_fc["arx+vix"] != base_fc["arx+vix"]).any()  # the change is read, later


def test_var_with_vix_backtests_each_model_beside_its_covariate_variant() -> None:
    res = gc.var(
        _data(), models="lstm,har", covariates=("vix",), calibration=60, sims=100, **WALK, **TINY
    )
    models = list(dict.fromkeys(res.table.index.get_level_values("model")))
    assert models == ["lstm", "lstm+vix", "har", "har_x+vix"]
    assert any("covariate vix starts on 2014-01-03" in n for n in res.notes)
    risk = res.risk[res.risk["distribution"] == "normal"].pivot(
        index="date", columns="model", values="var"
    )
    variance = res.risk[res.risk["distribution"] == "normal"].pivot(
        index="date", columns="model", values="variance"
    )
    # the normal 99% VaR is 2.326 standard deviations of each model's own forecast
    np.testing.assert_allclose(risk, 2.3263479 * np.sqrt(variance), rtol=1e-6)
    assert (risk["har_x+vix"] != risk["har"]).all()


def test_no_var_reads_a_covariate_value_dated_after_it(moved_vix) -> None:
    """Change the VIX after a date D: no VaR for a date up to the row after D (the one made at
    D's close) changes; change its value dated D: the VaR for the row after D changes for
    lstm+vix and har_x+vix, and not for the models without it."""
    data = _data()
    nxt = data.index[data.index.get_loc(DAY) + 1]

    def risk() -> pd.DataFrame:
        res = gc.var(
            data, models="lstm,har", covariates=("vix",), calibration=60, sims=100, **WALK, **TINY
        )
        out: pd.DataFrame = res.risk.pivot_table(
            index="date", columns=["model", "distribution"], values="var"
        )
        return out

    base = risk()
    vix = moved_vix["vix"]
    moved_vix["vix"] = _moved(vix, vix.index > DAY)
    later = risk()
    moved_vix["vix"] = _moved(vix, vix.index == DAY)
    on_day = risk()
    up_to = base.index <= nxt
    assert up_to.sum() > 20
    pd.testing.assert_frame_equal(later[up_to], base[up_to])
    pd.testing.assert_frame_equal(on_day[base.index < nxt], base[base.index < nxt])
    for m in ("lstm+vix", "har_x+vix"):
        assert on_day.loc[nxt, (m, "normal")] != pytest.approx(base.loc[nxt, (m, "normal")])
        assert (later[(m, "normal")] != base[(m, "normal")]).any()
    for m in ("lstm", "har"):
        pd.testing.assert_series_equal(on_day[(m, "normal")], base[(m, "normal")])


def test_from_run_of_an_evaluation_with_covariates(tmp_path: Path) -> None:
    """A backtest of an evaluation with covariates trades its forecasts on the rows the
    covariate covers, with the run's covariates in its settings; --covariates beside it is
    refused (the run's own)."""
    data = _data()
    gc.evaluate(
        data, target="return", models="ar1", covariates=("vix",), out=tmp_path / "ev",
        mcs_reps=100, n_jobs=1, quiet=True, **WALK,
    )  # fmt: skip
    made = gc.backtest(data, models="ar1", covariates=("vix",), n_jobs=1, quiet=True, **WALK)
    bt = gc.backtest(data, from_run=tmp_path / "ev", n_jobs=1)
    assert bt.config.covariates == ("vix",)
    assert list(bt.table.index) == ["ar1", "arx+vix", "buy_and_hold", "garch_vol_target"]
    # the same forecasts (the same walk) traded the same way
    pd.testing.assert_frame_equal(bt.trades.positions, made.trades.positions)
    with pytest.raises(ConfigError, match="--covariates \\('vix',\\): the forecasts of"):
        gc.backtest(data, from_run=tmp_path / "ev", covariates=("vix",), n_jobs=1)


# -- a panel ----------------------------------------------------------------------------------
def _panel() -> dict[str, pd.DataFrame]:
    three = list(gc.load_panel("arch_panel").items())[:3]  # nasdaq, sp500, wti
    return {n: df.loc["2013":"2016-06"] for n, df in three}


def test_panel_var_with_vix_backtests_the_ablation() -> None:
    res = gc.var_panel(
        _panel(), models="lstm,har", covariates=("vix",), calibration=60, sims=100,
        min_train=100, recurrent_epochs=1, warm_epochs=1, hidden=4, n_jobs=1, **WALK,
    )  # fmt: skip
    models = list(dict.fromkeys(res.summary.index.get_level_values("model")))
    assert models == ["lstm", "lstm+vix", "har", "har_x+vix"]
    assert any("start on 2014-01-03" in n for n in res.notes)
    assert res.risk["date"].min() >= pd.Timestamp("2016-01-04")
    assert (res.summary["days"] == res.summary["days"].iloc[0]).all()


def test_panel_backtest_with_vix_trades_the_ablation() -> None:
    bt = gc.backtest_panel(
        _panel(), models="lstm,ar1,no_change", covariates=("vix",), cross_section="rank",
        min_train=100,
        epochs=1, warm_epochs=1, hidden=4, mcs_reps=100, **WALK,
    )  # fmt: skip
    assert list(bt.table.index) == ["lstm", "lstm+vix", "ar1", "arx+vix", "no_change"]
    assert any("start on 2014-01-03" in n for n in bt.notes)


def test_panel_backtest_from_run_of_an_evaluation_with_covariates(tmp_path: Path) -> None:
    """A panel backtest of a panel evaluation with covariates trades the run's arx+vix beside
    ar1, as a backtest that walks them itself does, and records the run's covariates."""
    from gatecast.experiment.panel_backtest import PanelBacktestConfig, run_panel_backtest
    from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, run_panel_evaluation

    panel = _panel()
    walk = {"covariates": ("vix",), "min_train": 100, **WALK}
    run_panel_evaluation(
        PanelEvaluationConfig(
            data=panel, target="return", models=("ar1", "no_change"), mcs_reps=100, n_jobs=1,
            out=str(tmp_path / "ev"), **walk,
        )
    )  # fmt: skip
    made = gc.backtest_panel(panel, models="ar1,no_change", mcs_reps=100, **walk)
    bt = run_panel_backtest(
        PanelBacktestConfig(data=panel, from_run=str(tmp_path / "ev"), out=str(tmp_path / "bt"))
    )
    assert list(bt.table.index) == ["ar1", "arx+vix", "no_change"]
    pd.testing.assert_frame_equal(bt.trades.net, made.trades.net)
    with pytest.raises(ConfigError, match=r"^covariates: the forecasts of from_run"):
        gc.backtest_panel(panel, from_run=tmp_path / "ev", covariates=("vix",))


def test_no_panel_var_reads_a_covariate_value_dated_after_it(moved_vix, monkeypatch) -> None:
    """On a panel, each instrument's VaR for a date up to its row after D is the same whether
    or not the VIX after D changes; har_x+vix's VaR after that changes."""
    import gatecast.experiment.panel_covariates as panel_covariates

    monkeypatch.setattr(panel_covariates, "covariate_values", covariates_module.covariate_values)
    panel = _panel()

    def risk() -> pd.DataFrame:
        res = gc.var_panel(
            panel, models="har", covariates=("vix",), calibration=60, sims=100, min_train=100,
            n_jobs=1, distributions=("normal",), **WALK,
        )  # fmt: skip
        out: pd.DataFrame = res.risk.pivot_table(
            index=["instrument", "date"], columns="model", values="var_1"
        )
        return out

    base = risk()
    vix = moved_vix["vix"]
    moved_vix["vix"] = _moved(vix, vix.index > DAY)
    later = risk()
    dates = base.index.get_level_values("date")
    for name in panel:
        own = panel[name].index
        nxt = own[own > DAY][0]  # this instrument's row after D
        mine = base.index.get_level_values("instrument") == name
        up_to, after = mine & (dates <= nxt), mine & (dates > nxt)
        assert up_to.sum() > 20
        pd.testing.assert_frame_equal(later[up_to], base[up_to])
        assert (later.loc[after, "har_x+vix"] != base.loc[after, "har_x+vix"]).any()
        pd.testing.assert_series_equal(later["har"], base["har"])

"""``evaluate_panel`` and its config with rolling training windows: the historical mean of a
return is the mean of the window's own log returns (a hand computation), the config builds the
rolling plan, and settings that do not fit are refused by name before any fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig
from gatecast.experiment.panel_var_config import PanelVarConfig

DAYS = pd.bdate_range("2010-01-04", periods=200)


def _panel() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    return {
        n: pd.DataFrame(
            {"close": 100 * np.exp(np.cumsum(rng.standard_normal(len(d)) * 0.01))},
            index=d.rename("date"),
        )
        for n, d in (("A", DAYS), ("B", DAYS[20:]))
    }


def test_the_historical_mean_is_the_mean_of_each_instruments_own_window() -> None:
    panel = _panel()
    ev = gc.evaluate_panel(
        panel,
        test_start=str(DAYS[150].date()),
        models="historical_mean,no_change",
        target="return",
        refit_every=25,
        min_train=40,
        scheme="rolling",
        train_size=50,
        gap=1,
    )
    fc = ev.walk.forecasts["historical_mean"]
    for n, df in panel.items():
        close = df["close"]
        s = int(close.index.searchsorted(DAYS[150]))
        for k in range(2):  # refits on DAYS[150] and DAYS[175]
            window = close.iloc[s + 25 * k - 1 - 50 : s + 25 * k - 1]  # 50 rows, a gap of 1
            want = np.log(window).diff().mean()  # its 49 log returns
            block = fc.xs(n, level="instrument").iloc[25 * k : 25 * (k + 1)]
            np.testing.assert_allclose(block.to_numpy(), want, rtol=1e-12)
    table = ev.walk.folds
    assert set(table.loc[table.model == "historical_mean", "train_start"]) == {
        DAYS[99],
        DAYS[124],
    }


def test_the_config_builds_the_rolling_plan_and_refuses_what_does_not_fit() -> None:
    cfg = PanelEvaluationConfig(
        data=_panel(), test_start="2010-08-02", scheme="rolling", train_size=120, gap=2
    )
    plan = cfg.panel_plan()
    assert (plan.scheme, plan.train_size, plan.gap) == ("rolling", 120, 2)
    with pytest.raises(ConfigError, match="train_size=120 is the length of a rolling training"):
        PanelEvaluationConfig(data=_panel(), test_start="2010-08-02", train_size=120)
    with pytest.raises(ConfigError, match="the rolling scheme needs train_size >= 2"):
        PanelEvaluationConfig(data=_panel(), test_start="2010-08-02", scheme="rolling")
    # the panel VaR backtest walks the same windows, with the same checks
    with pytest.raises(ConfigError, match="the rolling scheme needs train_size >= 2"):
        PanelVarConfig(data=_panel(), test_start="2010-08-02", scheme="rolling")


def test_a_panel_backtest_walks_the_same_rolling_windows() -> None:
    from gatecast.experiment.panel_backtest import backtest_panel

    panel = _panel()
    kw = {"test_start": str(DAYS[150].date()), "models": "no_change,historical_mean"}
    kw |= {"refit_every": 25, "min_train": 40, "scheme": "rolling", "train_size": 50}
    bt = backtest_panel(panel, **kw)
    assert bt.evaluation is not None
    folds = bt.evaluation.walk.folds
    first = folds[(folds.model == "historical_mean") & (folds.fold == 0)]
    assert set(first.train_start) == {DAYS[100]} and set(first.train_end) == {DAYS[149]}
    # the same walk as evaluate_panel's (the same code on the same settings)
    ev = gc.evaluate_panel(panel, target="return", **kw)
    pd.testing.assert_frame_equal(bt.evaluation.walk.forecasts, ev.walk.forecasts)

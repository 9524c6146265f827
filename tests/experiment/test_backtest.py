"""The backtest run: saved forecasts traded with the benchmarks, trials from every column, files
that an independent computation reproduces, and a finished evaluate folder traded without refitting."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gatecast.data import gbm
from gatecast.errors import ConfigError, ModelFileError
from gatecast.experiment.backtest import (
    BacktestConfig,
    backtest_forecasts,
    run_backtest,
    write_backtest,
)
from gatecast.experiment.evaluation import EvaluationConfig

N_DAYS = 600


def _market(seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Forecasts (two lstm seeds, their mean, ar1), simple returns and a GARCH-like variance."""
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2015-01-01", periods=N_DAYS)
    r = pd.Series(rng.normal(3e-4, 0.01, N_DAYS), index=idx)
    fc = pd.DataFrame({"actual": np.log1p(r), "ar1": rng.normal(0, 1e-3, N_DAYS)}, index=idx)
    for s in range(2):
        fc[f"lstm[s{s}]"] = rng.normal(0, 1e-3, N_DAYS)
    fc["lstm"] = fc[["lstm[s0]", "lstm[s1]"]].mean(axis=1)
    variance = pd.Series(rng.uniform(0.5, 2.0, N_DAYS), index=idx)  # percent^2
    return fc, r, variance


def test_every_column_is_a_trial_and_the_benchmarks_are_shown() -> None:
    fc, r, v = _market()
    res = backtest_forecasts(fc, r, v, BacktestConfig(cost_bps=5), models=("lstm", "ar1"))
    assert list(res.table.index) == ["lstm", "ar1", "buy_and_hold", "garch_vol_target"]
    assert res.n_trials == 4  # lstm[s0], lstm[s1], their mean and ar1
    assert res.var_sharpe == pytest.approx(np.var(res.trials.to_numpy(), ddof=1))
    assert res.table.loc["buy_and_hold", "n_trials"] == 1
    assert res.pbo is not None and res.pbo.n_configs == 4
    held = res.benchmarks.held()
    assert (held["buy_and_hold"] == 1.0).all()
    # GARCH vol targeting: the variance forecast FOR day t sizes the position that earns r_t
    t = res.benchmarks.gross.index
    assert held["garch_vol_target"].to_numpy() == pytest.approx(
        np.minimum(1.0, 10.0 / np.sqrt(v.loc[t].to_numpy() * 252))
    )
    assert res.benchmarks.net()["buy_and_hold"].to_numpy() == pytest.approx(r.loc[t].to_numpy())


def test_trials_can_be_overridden() -> None:
    fc, r, v = _market()
    cfg = BacktestConfig(n_trials=100, var_sharpe_annual=0.5)
    res = backtest_forecasts(fc, r, v, cfg, models=("lstm",))
    assert res.table.loc["lstm", "n_trials"] == 100
    assert res.table.loc["lstm", "var_sr"] == pytest.approx(0.5 / 252)


def test_written_statistics_are_reproduced_from_the_written_returns(tmp_path: Path) -> None:
    fc, r, v = _market(1)
    res = backtest_forecasts(fc, r, v, BacktestConfig(cost_bps=8), models=("lstm", "ar1"))
    write_backtest(res, tmp_path)
    table = pd.read_csv(tmp_path / "backtest.csv", index_col="model")
    rets = pd.read_parquet(tmp_path / "returns.parquet")
    pbo = json.loads((tmp_path / "pbo.json").read_text())
    trials = [c for c in pbo["configurations"]]
    srs = np.array([rets[(c, "net")].mean() / rets[(c, "net")].std(ddof=1) for c in trials])
    n, var = len(srs), srs.var(ddof=1)
    g = np.euler_gamma
    sr0 = math.sqrt(var) * (
        (1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e))
    )
    x = rets[("ar1", "net")].to_numpy()
    sr, g3, g4 = x.mean() / x.std(ddof=1), stats.skew(x), stats.kurtosis(x, fisher=False)
    dsr = stats.norm.cdf(
        (sr - sr0) * math.sqrt(len(x) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    )
    assert table.loc["ar1", "n_trials"] == n == pbo["n_trials"]
    assert table.loc["ar1", "dsr"] == pytest.approx(dsr)
    assert table.loc["ar1", "sharpe"] == pytest.approx(sr * math.sqrt(252))
    # net = gross - c |dw|, with the position of the day before
    w = rets[("ar1", "position")]
    paid = 8e-4 * w.diff().abs().fillna(0.0)
    assert (rets[("ar1", "gross")] - paid).to_numpy() == pytest.approx(x)
    assert (w * rets[("market", "return")]).to_numpy() == pytest.approx(
        rets[("ar1", "gross")].to_numpy()
    )
    sweep = pd.read_csv(tmp_path / "cost_sweep.csv", index_col=["cost_bps", "model"])
    assert sweep.loc[(8.0, "ar1"), "sharpe"] == pytest.approx(table.loc["ar1", "sharpe"])
    for name in ("equity.png", "drawdown.png", "cost_sweep.png", "config.json"):
        assert (tmp_path / name).is_file()


def test_the_verdict_says_when_nothing_beats_buy_and_hold() -> None:
    fc, r, v = _market(2)
    res = backtest_forecasts(fc, r, v, BacktestConfig(cost_bps=20), models=("lstm", "ar1"))
    assert res.verdict().startswith("Nothing beats buy-and-hold after costs")
    fc["clairvoyant"] = r.to_numpy()  # knows each day's return: must beat it
    res = backtest_forecasts(fc, r, v, BacktestConfig(cost_bps=20), models=("clairvoyant",))
    assert res.verdict().startswith("clairvoyant beats buy-and-hold")
    assert "N = 5 trials" in res.verdict()


# -- a finished evaluate run folder ----------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluate_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluate run folder on synthetic prices, written as `gatecast evaluate` writes one."""
    root = tmp_path_factory.mktemp("bt")
    prices = gbm(700, seed=3)[["close"]]
    prices.index.name = "date"
    csv = root / "prices.csv"
    prices.to_csv(csv)
    cfg = EvaluationConfig(
        data=str(csv),
        target="return",
        test_start=str(prices.index[560].date()),
        seeds=2,
        models=("lstm", "ar1"),
    )
    run = root / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"config": asdict(cfg)}, default=str))
    idx = prices.index[560:]
    rng = np.random.default_rng(0)
    fc = pd.DataFrame({"actual": np.log(prices["close"]).diff().loc[idx]}, index=idx)
    for col in ("lstm[s0]", "lstm[s1]", "ar1"):
        fc[col] = rng.normal(0, 1e-3, len(idx))
    fc["lstm"] = fc[["lstm[s0]", "lstm[s1]"]].mean(axis=1)
    fc.to_parquet(run / "forecasts.parquet")
    return run


def test_a_finished_run_is_traded_without_refitting(evaluate_folder: Path, tmp_path: Path) -> None:
    cfg = BacktestConfig(
        from_run=str(evaluate_folder), cost_bps=5, n_jobs=1, out=str(tmp_path / "bt")
    )
    res = run_backtest(cfg)
    saved = pd.read_parquet(evaluate_folder / "forecasts.parquet")
    # the positions are the signs of the stored forecasts, one day before the return they earn
    w = res.trades.positions["lstm"].to_numpy()
    assert (w == np.sign(saved["lstm"].to_numpy())).all()
    assert (res.trades.positions.index < res.trades.gross.index).all()
    assert list(res.table.index) == ["lstm", "ar1", "buy_and_hold", "garch_vol_target"]
    assert res.n_trials == 4
    assert (tmp_path / "bt" / "pbo.json").is_file()
    assert not (tmp_path / "bt" / "evaluation").exists()


def test_a_rule_for_another_target_is_refused(evaluate_folder: Path) -> None:
    with pytest.raises(ConfigError, match="holds return forecasts, but rule 'vol_target'"):
        run_backtest(BacktestConfig(from_run=str(evaluate_folder), rule="vol_target"))


def test_a_folder_that_is_not_an_evaluate_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="finished `gatecast evaluate` run folder"):
        run_backtest(BacktestConfig(from_run=str(tmp_path)))


def test_backtest_and_var_runs_pass_their_walk_forward_settings_on() -> None:
    from gatecast.experiment.backtest import BacktestConfig
    from gatecast.experiment.var import VarConfig

    common = dict(data="nasdaq", refit_every=5, seeds=2, hidden=7, window=9, dropna=True)
    bt = BacktestConfig(**common, test_end="2016-12-30", out="runs/bt").evaluation()
    assert (bt.data, bt.refit_every, bt.seeds, bt.hidden, bt.window, bt.dropna) == (
        "nasdaq",
        5,
        2,
        7,
        9,
        True,
    )
    assert (bt.test_end, bt.out, bt.target) == (
        "2016-12-30",
        str(Path("runs/bt") / "evaluation"),
        "return",
    )
    var = VarConfig(**common, out=None).evaluation(test_start="2014-01-02")
    assert (var.hidden, var.window, var.seeds, var.out) == (7, 9, 2, None)
    assert (var.target, var.proxy, var.test_start) == ("variance", "squared", "2014-01-02")

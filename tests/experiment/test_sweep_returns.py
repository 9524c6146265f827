"""Per-date strategy returns in the sweep's trial registry: every trial's forecasts traded as
`gatecast backtest` would (recomputed here from the price file), nothing after the selection period
reaching the selection's returns, the T x N matrix for CSCV, `backtest --sweep` citing the sweep,
and an older trial folder refused with the way out."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sweep_data import sweep_config, write_prices
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11
from gatecast.errors import ConfigError
from gatecast.evaluation.trading import INFORMATION_DATE, Rule, cscv_pbo, trade
from gatecast.experiment.backtest import BacktestConfig, backtest_forecasts
from gatecast.experiment.sweep import (
    SweepConfig,
    TrialTask,
    read_trials,
    run_sweep,
    trial_count,
    trial_losses,
    trial_returns,
    trial_set,
)
from gatecast.experiment.sweep import run as sweep_run

COST = 5e-4  # gatecast backtest's default: 5 bps one-way


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return garch11(560, seed=5)[["close"]]


def _config(data: str, out: Path, prices: pd.DataFrame, **kw: Any) -> SweepConfig:
    return sweep_config(
        data, out, prices, select_row=420, test_row=500, **({"refit_every": 100} | kw)
    )


def _simple_returns(csv: str) -> pd.Series:
    """The oracle's returns: close-to-close simple returns straight from the price file."""
    close = pd.read_csv(csv, index_col="date", parse_dates=True)["close"]
    r: pd.Series = close / close.shift(1) - 1.0
    return r


def _frames(out: Path) -> dict[tuple[str, str], pd.DataFrame]:
    trials = read_trials(out)
    return {
        (k, p): pd.read_parquet(out / "trials" / k / f"{p}.parquet")
        for k, p in trials[["key", "phase"]].itertuples(index=False)
    }


def _swept(
    prices: pd.DataFrame, factory: pytest.TempPathFactory, name: str, **overrides: Any
) -> tuple[SweepConfig, str]:
    """A finished sweep over ``prices`` written to a CSV of its own; its config and data path."""
    root = factory.mktemp(name)
    data = write_prices(prices, root / "prices.csv")
    cfg = _config(data, root / "run", prices, **overrides)
    run_sweep(cfg)
    return cfg, data


@pytest.fixture(scope="module")
def return_sweep(
    prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SweepConfig, str]:
    return _swept(
        prices, tmp_path_factory, "ret", target="return", grid={"window": (5,)}, baselines=("ar1",)
    )


@pytest.fixture(scope="module")
def variance_sweep(
    prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SweepConfig, str]:
    return _swept(prices, tmp_path_factory, "var", seeds=2, baselines=("garch",))


# -- every trial stores its strategy returns ---------------------------------------------------------
def test_return_trials_store_the_sign_rule_net_returns_recomputed_from_the_prices(
    return_sweep: tuple[SweepConfig, str],
) -> None:
    cfg, data = return_sweep
    r = _simple_returns(data)
    frames = _frames(Path(cfg.out))
    assert len({k for k, _ in frames}) == 2 and ("ar1", "select") in frames  # baselines too
    traded_somewhere = False
    for (key, phase), f in frames.items():
        # the forecast for day t sets w = sign(forecast) at the close of t-1; it earns r_t
        w = np.sign(f["forecast"].to_numpy())
        dw = np.abs(np.diff(w, prepend=w[:1]))
        expected = w * r.loc[f.index].to_numpy() - COST * dw
        np.testing.assert_allclose(f["strategy"].to_numpy(), expected, rtol=0, atol=1e-12)
        traded_somewhere |= bool(dw.sum() > 0)
        assert f["strategy"].notna().all(), (key, phase)
    assert traded_somewhere  # the cost term was exercised (the AR(1) baseline flips sides)
    long = pd.read_parquet(Path(cfg.out) / "trial_forecasts.parquet")
    for (key, phase), f in frames.items():
        rows = long[(long["key"] == key) & (long["phase"] == phase)].set_index("date")
        np.testing.assert_array_equal(rows["strategy"].to_numpy(), f["strategy"].to_numpy())


def test_variance_trials_store_the_vol_target_net_returns(
    variance_sweep: tuple[SweepConfig, str],
) -> None:
    cfg, data = variance_sweep
    r = _simple_returns(data)
    frames = _frames(Path(cfg.out))
    assert ("garch", "select") in frames and ("garch", "test") in frames  # baselines too
    for f in frames.values():
        w = np.minimum(1.0, 10.0 / np.sqrt(f["forecast"].to_numpy() * 252))
        dw = np.abs(np.diff(w, prepend=w[:1]))
        expected = w * r.loc[f.index].to_numpy() - COST * dw
        np.testing.assert_allclose(f["strategy"].to_numpy(), expected, rtol=0, atol=1e-12)
        by_trade = trade(f[["forecast"]], r, Rule("vol_target"), 5.0).net()["forecast"]
        np.testing.assert_allclose(f["strategy"].to_numpy(), by_trade.to_numpy(), atol=1e-12)
        assert (w < 1.0).any() and dw.sum() > 0  # sized by the forecast, so it trades


# -- no leakage --------------------------------------------------------------------------------------
def test_selection_returns_hold_nothing_after_the_selection_period(
    return_sweep: tuple[SweepConfig, str],
    prices: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg, _ = return_sweep
    _, s1 = cfg.selection_period()
    shocked = prices.copy()
    after = shocked.index > pd.Timestamp(s1)
    rng = np.random.default_rng(7)
    shocked.loc[after, "close"] *= np.exp(rng.normal(0, 0.05, int(after.sum())))
    data = write_prices(shocked, tmp_path / "shocked.csv")
    seen: list[TrialTask] = []
    execute = sweep_run.execute_trials

    def spy(tasks: list[TrialTask], c: SweepConfig) -> Any:
        seen.extend(tasks)
        return execute(tasks, c)

    monkeypatch.setattr(sweep_run, "execute_trials", spy)
    other = _config(
        data, tmp_path / "run", prices, target="return", grid={"window": (5,)}, baselines=("ar1",)
    )
    run_sweep(other)
    select = [t for t in seen if t.phase == "select"]
    assert select and all(t.returns.index.max() <= pd.Timestamp(s1) for t in select)
    assert max(t.returns.index.max() for t in seen) > pd.Timestamp(s1)  # the test's reach on
    a, b = _frames(Path(cfg.out)), _frames(tmp_path / "run")
    for key, phase in a:
        if phase == "select":
            pd.testing.assert_series_equal(a[key, phase]["strategy"], b[key, phase]["strategy"])
    # the shock did reach the test period's strategy returns
    assert not np.allclose(a["ar1", "test"]["strategy"], b["ar1", "test"]["strategy"])


# -- the T x N matrix --------------------------------------------------------------------------------
def test_trial_returns_is_the_mean_over_seeds_of_every_candidate(
    variance_sweep: tuple[SweepConfig, str],
) -> None:
    cfg, _ = variance_sweep
    out = Path(cfg.out)
    trials = read_trials(out)
    cand = trials[(trials["phase"] == "select") & (trials["config"] != "garch")]
    configs = sorted(cand["config"].unique())
    assert len(configs) == 2
    matrix = trial_returns(out)
    assert list(matrix.columns) == configs
    assert matrix.shape == trial_losses(out).shape
    for c in configs:
        keys = sorted(cand.loc[cand["config"] == c, "key"])
        assert len(keys) == 2  # two seeds
        seeds = [pd.read_parquet(out / "trials" / k / "select.parquet")["strategy"] for k in keys]
        assert not np.allclose(seeds[0], seeds[1])  # the seeds differ, so the mean is a check
        mean = (seeds[0] + seeds[1]) / 2
        np.testing.assert_allclose(matrix[c].to_numpy(), mean.to_numpy(), rtol=0, atol=1e-15)
    test = trial_returns(out, "test")
    assert test.index.min() >= pd.Timestamp(cfg.test_start) > matrix.index.max()


# -- N of a sweep ------------------------------------------------------------------------------------
def _selection_strategies(out: Path) -> pd.DataFrame:
    """Date x trial key: the stored selection-period strategy returns of every trial."""
    trials = read_trials(out)
    keys = trials.loc[trials["phase"] == "select", "key"]
    return pd.DataFrame(
        {k: pd.read_parquet(out / "trials" / k / "select.parquet")["strategy"] for k in keys}
    )


def test_n_of_a_sweep_is_configurations_times_seeds_plus_baselines_repeats_once(
    variance_sweep: tuple[SweepConfig, str], tmp_path: Path
) -> None:
    cfg, _ = variance_sweep
    out = Path(cfg.out)
    trials = read_trials(out)
    select = trials[trials["phase"] == "select"]
    assert (select["config"].nunique(), cfg.seeds) == (3, 2)  # two windows and garch
    matrix = _selection_strategies(out)
    assert matrix.T.drop_duplicates().shape[0] == 5  # 2 x 2 seeds + garch, all distinct
    assert trial_count(out) == 5 == trial_set(out).n_trials
    summary = json.loads((out / "sweep_summary.json").read_text())
    assert (summary["n_trials"], summary["n_configs"]) == (5, 2)
    assert summary["trials"]["trials"] == list(select["key"])
    # one trial that took another's very trades is the same strategy: counted once
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    registry = pd.read_parquet(copy / "trial_forecasts.parquet")
    first, second = list(select["key"])[:2]
    rows = (registry["phase"] == "select") & (registry["key"] == second)
    twin = (registry["phase"] == "select") & (registry["key"] == first)
    registry.loc[rows, "strategy"] = registry.loc[twin, "strategy"].to_numpy()
    registry.to_parquet(copy / "trial_forecasts.parquet")
    assert trial_count(copy) == 4
    assert trial_set(copy).same_as == {second: first}


def test_trial_forecasts_carry_the_date_of_the_last_observation_used(
    return_sweep: tuple[SweepConfig, str],
) -> None:
    cfg, data = return_sweep
    dates = pd.read_csv(data, index_col="date", parse_dates=True).index
    long = pd.read_parquet(Path(cfg.out) / "trial_forecasts.parquet")
    before = dates[dates.get_indexer(pd.DatetimeIndex(long["date"])) - 1]
    assert (pd.DatetimeIndex(long[INFORMATION_DATE]) == before).all()
    for f in _frames(Path(cfg.out)).values():
        assert (f[INFORMATION_DATE] < f.index).all()


# -- gatecast backtest --sweep ---------------------------------------------------------------------
def _variance_forecasts(data: str, cfg: SweepConfig) -> tuple[pd.DataFrame, pd.Series]:
    r = _simple_returns(data)
    idx = r.index[r.index >= pd.Timestamp(cfg.test_start)]
    rng = np.random.default_rng(0)
    fc = pd.DataFrame({m: rng.uniform(0.5, 2.0, len(idx)) for m in ("lstm", "har")}, index=idx)
    return fc, r


def test_backtest_cites_the_sweeps_trials_for_the_dsr_and_pbo(
    variance_sweep: tuple[SweepConfig, str],
) -> None:
    cfg, data = variance_sweep
    out = Path(cfg.out)
    fc, r = _variance_forecasts(data, cfg)
    garch = pd.Series(1.0, index=fc.index)
    bt = BacktestConfig(rule="vol_target", sweep=str(out), pbo_blocks=4)
    res = backtest_forecasts(fc, r, garch, bt)
    matrix = _selection_strategies(out)  # every (configuration, seed) and the baseline
    assert res.n_trials == trial_count(out) == 5
    assert res.table.loc["lstm", "n_trials"] == 5
    sr = matrix.mean() / matrix.std(ddof=1)
    assert res.var_sharpe == pytest.approx(float(np.var(sr.to_numpy(), ddof=1)), rel=1e-12)
    expected = cscv_pbo(matrix, 4)
    assert res.pbo is not None and res.pbo.n_configs == 5
    assert res.pbo.pbo == expected.pbo
    np.testing.assert_array_equal(res.pbo.logits, expected.logits)
    facts = res.to_dict()
    assert facts["sweep"] == str(out) and facts["configurations"] == list(matrix.columns)
    assert f"N = 5 trials of the sweep in {out}" in res.verdict()
    # without the sweep, the two traded columns are the trials: another N and PBO
    own = backtest_forecasts(fc, r, garch, BacktestConfig(rule="vol_target", pbo_blocks=4))
    assert own.to_dict()["sweep"] is None and "of the sweep" not in own.verdict()
    assert own.var_sharpe != pytest.approx(res.var_sharpe)
    # an explicit N wins; the PBO still comes from the sweep
    forced = backtest_forecasts(
        fc, r, garch, BacktestConfig(rule="vol_target", sweep=str(out), pbo_blocks=4, n_trials=7)
    )
    assert forced.n_trials == 7 and forced.table.loc["lstm", "n_trials"] == 7
    assert forced.pbo is not None and forced.pbo.pbo == expected.pbo
    assert "of the sweep" not in forced.verdict()
    few = backtest_forecasts(
        fc, r, garch, BacktestConfig(rule="vol_target", sweep=str(out), pbo_blocks=50)
    )
    assert few.pbo is None and re.search(r"\d+ days in the sweep .* too few", few.pbo_note)


def test_backtest_refuses_a_folder_without_a_sweep_or_of_another_target(
    variance_sweep: tuple[SweepConfig, str], tmp_path: Path
) -> None:
    cfg, data = variance_sweep
    fc, r = _variance_forecasts(data, cfg)
    garch = pd.Series(1.0, index=fc.index)
    empty = tmp_path / "empty"
    with pytest.raises(ConfigError, match=f"{re.escape(str(empty))} holds no trial registry"):
        backtest_forecasts(fc, r, garch, BacktestConfig(rule="vol_target", sweep=str(empty)))
    signs = fc - 1.0
    with pytest.raises(ConfigError, match="forecast variance, but this backtest trades return"):
        backtest_forecasts(signs, r, garch, BacktestConfig(rule="sign", sweep=cfg.out))
    res = CliRunner().invoke(
        app,
        ["backtest", "--out", str(tmp_path / "bt"), "--sweep", str(empty), "--quiet"],
    )
    assert res.exit_code == 2, res.output
    assert "holds no trial registry" in res.output and "Traceback" not in res.output


# -- an older trial folder -----------------------------------------------------------------------------
def test_an_older_trial_folder_resumes_but_trial_returns_refuses_it(
    return_sweep: tuple[SweepConfig, str], prices: pd.DataFrame, tmp_path: Path
) -> None:
    cfg, data = return_sweep
    run = tmp_path / "run"
    shutil.copytree(cfg.out, run)
    trials = read_trials(run)
    key = trials.loc[(trials["phase"] == "select") & (trials["config"] != "ar1"), "key"].iloc[0]
    trial = run / "trials" / key
    path = trial / "select.parquet"
    pd.read_parquet(path).drop(columns="strategy").to_parquet(path)
    again = run_sweep(
        _config(
            data,
            run,
            prices,
            target="return",
            grid={"window": (5,)},
            baselines=("ar1",),
            resume=True,
        )
    )
    assert again.trials["resumed"].all()  # read back without error, nothing rerun
    assert trial_losses(run).notna().all().all()  # the losses are still there
    assert trial_returns(run, "test").notna().all().all()  # the test trial is new-format
    with pytest.raises(ConfigError, match=rf"{re.escape(str(trial))}.*new --out folder"):
        trial_returns(run)
    # a registry written entirely before strategy returns existed
    long = pd.read_parquet(run / "trial_forecasts.parquet").drop(columns="strategy")
    long.to_parquet(run / "trial_forecasts.parquet")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(trial))}.*older gatecast"):
        trial_returns(run, "test")


def test_a_sweeps_rule_and_cost_are_the_backtests_defaults() -> None:
    # the sweep trades each trial as `gatecast backtest` would with no options
    from gatecast.evaluation.trading import DEFAULT_COST_BPS, RULE_OF_TARGET, Rule

    for target, name in RULE_OF_TARGET.items():
        bt = BacktestConfig(rule=name)
        assert bt.trading_rule() == Rule(name)
        assert bt.cost_bps == DEFAULT_COST_BPS == 5.0
        assert bt.target == target

"""A panel backtest citing a sweep on a panel (``sweep``, ``gatecast backtest --sweep`` on a
panel): N, Var[SR_n] and the DSR recomputed by hand from the sweep's selection forecasts (the
closed form of the DSR), the PBO on the same trials; a one-series sweep, a sweep of another target
or of another panel refused by name, before any fit, and exit 2 from the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from scipy import stats
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.errors import ConfigError
from gatecast.evaluation.trading import cscv_pbo, deflated_sharpe_ratio
from gatecast.evaluation.trading.cross_section import CrossSectionRule, cross_section_weights
from gatecast.experiment.panel_backtest import PanelBacktestConfig, run_panel_backtest
from gatecast.experiment.sweep import PanelSweepConfig, run_panel_sweep

COST_BPS = 5.0
runner = CliRunner()


def _frames(names: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> dict[str, pd.DataFrame]:
    days = pd.bdate_range("2010-01-01", periods=460, name="date")
    rng = np.random.default_rng(3)
    return {
        n: pd.DataFrame(
            {"close": 100 * np.exp(np.cumsum(0.01 * v * rng.standard_normal(460)))}, days
        )
        for n, v in zip(names, (1.0, 1.5, 2.0), strict=False)
    }


def _long_csv(path: Path, names: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> Path:
    parts = [
        df.reset_index().assign(ticker=n, date=lambda d: d["date"].dt.strftime("%Y-%m-%d"))
        for n, df in _frames(names).items()
    ]
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A sweep on a CSV panel of returns: two configurations x one seed, its reference
    no_change; its test folder is a panel evaluation of returns (lstm, no_change)."""
    root = tmp_path_factory.mktemp("panel_bt_sweep")
    csv = _long_csv(root / "long.csv")
    run_panel_sweep(
        PanelSweepConfig(
            data=str(csv),
            out=str(root / "sweep"),
            target="return",
            grid={"hidden": (4,), "embedding": (False, True)},
            fixed={"epochs": 1, "warm_epochs": 1},
            select_start="2011-01-03",
            test_start="2011-07-01",
            refit_every=126,
            min_train=250,
            executor="serial",
            n_jobs=1,
            quiet=True,
        )
    )
    return {"csv": csv, "sweep": root / "sweep", "test": root / "sweep" / "test", "root": root}


def _net_by_hand(forecasts: pd.DataFrame, prices: dict[str, pd.Series]) -> pd.Series:
    """The daily net return of the top/bottom-fifth book of one column of forecasts (long:
    instrument, date, forecast): sum_i w_i r_i - cost x sum_i |w_i,t - w_i,t-1|."""
    wide = forecasts.pivot(index="date", columns="instrument", values="forecast").sort_index()
    r = pd.DataFrame({n: p.pct_change() for n, p in prices.items()}).reindex(wide.index)
    w = cross_section_weights(wide, CrossSectionRule("top_bottom", 0.2))
    turnover = w.diff().fillna(w).abs().sum(axis=1)
    return (w * r[w.columns]).sum(axis=1) - COST_BPS / 1e4 * turnover


def _sweep_trials_by_hand(sweep: Path, prices: dict[str, pd.Series]) -> pd.DataFrame:
    trials = pd.read_parquet(sweep / "trials.parquet")
    out = {
        key: _net_by_hand(pd.read_parquet(sweep / "trials" / cfg / f"seed_{seed}.parquet"), prices)
        for key, cfg, seed in zip(trials["key"], trials["config"], trials["seed"], strict=True)
    }
    out["no_change"] = _net_by_hand(pd.read_parquet(sweep / "selection_reference.parquet"), prices)
    return pd.DataFrame(out)


def test_n_var_and_the_dsr_come_from_the_sweeps_trials_recomputed_by_hand(
    swept: dict[str, Path], tmp_path: Path
) -> None:
    prices = {n: df["close"] for n, df in _frames().items()}
    net = _sweep_trials_by_hand(swept["sweep"], prices)
    # distinct net return series: every configuration and the reference (which never trades)
    distinct = net.T.drop_duplicates().T
    sr = {c: net[c].mean() / net[c].std(ddof=1) for c in distinct if net[c].std(ddof=1) > 0}
    n_trials, var = distinct.shape[1], float(np.var(list(sr.values()), ddof=1))
    assert n_trials == 3 and len(sr) == 2

    out = tmp_path / "bt"
    res = run_panel_backtest(
        PanelBacktestConfig(from_run=str(swept["test"]), sweep=str(swept["sweep"]), out=str(out))
    )
    assert res.statistics.n_trials == n_trials
    assert res.statistics.var_sharpe == pytest.approx(var, rel=1e-9)
    # the DSR of lstm's book over the test period, in its closed form (Bailey and Lopez de Prado)
    daily = pd.read_parquet(out / "returns.parquet").set_index("date")["lstm_net"].to_numpy()
    s = daily.mean() / daily.std(ddof=1)
    g3, g4 = stats.skew(daily), stats.kurtosis(daily, fisher=False)
    gamma = 0.5772156649015329
    sr0 = math.sqrt(var) * (
        (1 - gamma) * stats.norm.ppf(1 - 1 / n_trials)
        + gamma * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )
    dsr = stats.norm.cdf(
        (s - sr0) * math.sqrt(len(daily) - 1) / math.sqrt(1 - g3 * s + (g4 - 1) / 4 * s**2)
    )
    table = pd.read_csv(out / "backtest.csv", index_col="model")
    assert table.loc["lstm", "dsr"] == pytest.approx(dsr, abs=1e-6)
    assert table.loc["lstm", "dsr"] == pytest.approx(
        deflated_sharpe_ratio(s, len(daily), n_trials, var, g3, g4), abs=1e-9
    )
    assert list(table["n_trials"]) == [n_trials, n_trials]
    # the PBO on the sweep's trials that have a Sharpe ratio, over its selection period
    saved = json.loads((out / "pbo.json").read_text())
    assert saved["sweep"] == str(swept["sweep"]) and saved["n_trials"] == n_trials
    assert saved["trials"]["trials"] == list(net.columns)
    assert saved["pbo"] == pytest.approx(cscv_pbo(net[list(sr)].dropna(), 16).pbo, abs=1e-12)
    # without the sweep N counts the models traded: lstm and no_change (which never trades)
    alone = run_panel_backtest(PanelBacktestConfig(from_run=str(swept["test"])))
    assert alone.statistics.n_trials == 2
    assert any(f"panel sweep in {swept['sweep']}" in n for n in res.notes)
    assert not any("panel sweep" in n for n in alone.notes)


def _fake_run(folder: Path, **record: Any) -> Path:
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(record))
    return folder


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ({"kind": "sweep", "config": {"target": "return"}}, "is a sweep on one series"),
        ({"kind": "evaluate", "config": {}}, "holds a run of kind evaluate"),
    ],
)
def test_a_folder_that_is_no_panel_sweep_is_refused_by_name(
    swept: dict[str, Path], tmp_path: Path, record: dict[str, Any], said: str
) -> None:
    folder = _fake_run(tmp_path / "other", **record)
    with pytest.raises(ConfigError, match=said) as err:
        PanelBacktestConfig(from_run=str(swept["test"]), sweep=str(folder))
    assert str(folder) in str(err.value)
    with pytest.raises(ConfigError, match=r"no readable run\.json"):
        PanelBacktestConfig(from_run=str(swept["test"]), sweep=str(tmp_path / "none"))


def test_a_panel_sweep_of_another_target_or_panel_is_refused_before_any_fit(
    swept: dict[str, Path], tmp_path: Path
) -> None:
    record = json.loads((swept["sweep"] / "run.json").read_text())
    record["config"]["target"] = "variance"
    folder = _fake_run(tmp_path / "variance", **record)
    with pytest.raises(ConfigError, match="forecast variance, but a panel backtest trades return"):
        PanelBacktestConfig(from_run=str(swept["test"]), sweep=str(folder))
    # a new walk on two of the three instruments: refused before the walk, nothing written
    csv = _long_csv(tmp_path / "two.csv", ("AAA", "BBB"))
    out = tmp_path / "bt"
    cfg = PanelBacktestConfig(
        data=str(csv),
        test_start="2011-07-01",
        models=("ar1", "no_change"),
        sweep=str(swept["sweep"]),
        min_train=250,
        out=str(out),
    )
    with pytest.raises(ConfigError, match=r"ran on 3 instrument\(s\) \(AAA, BBB, CCC.*trades 2"):
        run_panel_backtest(cfg)
    assert not out.exists()
    with pytest.raises(ConfigError, match="cite a sweep of the same panel"):
        gc.backtest_panel(
            {n: df for n, df in _frames(("AAA", "BBB")).items()},
            test_start="2011-07-01",
            models="ar1,no_change",
            sweep=swept["sweep"],
            min_train=250,
        )


def _cli_backtest(run: Path, sweep: Path, out: Path) -> Result:
    """`gatecast backtest --from-run run --sweep sweep --out out`."""
    return runner.invoke(
        app, ["backtest", "--from-run", str(run), "--sweep", str(sweep), "--out", str(out)]
    )


def test_the_cli_cites_a_panel_sweep_and_exits_2_on_a_one_series_sweep(
    swept: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "bt"
    res = _cli_backtest(swept["test"], swept["sweep"], out)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "pbo.json").read_text())["n_trials"] == 3
    one = _fake_run(tmp_path / "one", kind="sweep", config={"target": "return"})
    res = _cli_backtest(swept["test"], one, tmp_path / "x")
    assert res.exit_code == 2
    assert "is a sweep on one series" in " ".join(res.output.split())
    assert not (tmp_path / "x").exists()

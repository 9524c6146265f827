"""The look-ahead screen on a panel: the single-series screen run on each instrument's return
forecasts. A column made from the return of the day each forecast is for is flagged on the
instruments where it was planted and on no other, honest forecasts pass; a panel backtest of
imported forecasts (``from_run``) reports it in ``lookahead.csv``, ``backtest.csv``,
``pbo.json`` and its verdict, and keeps the numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.evaluation.trading.cross_section import trade_cross_section
from gatecast.experiment.panel_backtest import PanelBacktestConfig, run_panel_backtest
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, run_panel_evaluation

NAMES = ("AAA", "BBB", "CCC", "DDD")
runner = CliRunner()


def _prices(n_days: int = 300) -> dict[str, pd.Series]:
    days = pd.bdate_range("2012-01-02", periods=n_days, name="date")
    rng = np.random.default_rng(11)
    return {
        n: pd.Series(100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n_days))), days)
        for n in NAMES
    }


def _forecasts(prices: dict[str, pd.Series], planted: tuple[str, ...]) -> pd.DataFrame:
    """Long forecasts for every day after the first: ``honest`` is noise, ``leak`` the return
    of the very day it is for on the ``planted`` instruments and noise elsewhere."""
    rng = np.random.default_rng(5)
    parts = []
    for n, p in prices.items():
        r = p.pct_change().iloc[1:]
        noise = 0.001 * rng.standard_normal(len(r))
        leak = r.to_numpy() if n in planted else 0.001 * rng.standard_normal(len(r))
        parts.append(
            pd.DataFrame({"instrument": n, "date": r.index, "honest": noise, "leak": leak})
        )
    return pd.concat(parts, ignore_index=True)


def test_a_planted_leak_is_flagged_where_it_was_planted_and_nowhere_else() -> None:
    prices = _prices()
    fc = _forecasts(prices, ("BBB", "DDD"))
    trades = trade_cross_section(fc, prices, cost_bps=5.0)
    screen = trades.lookahead
    assert list(screen.index.names) == ["model", "instrument"]
    flagged = sorted(screen.index[screen["look_ahead"]])
    assert flagged == [("leak", "BBB"), ("leak", "DDD")]
    assert trades.look_ahead == ["leak"]
    assert screen.loc[("leak", "BBB"), "rank_corr"] == pytest.approx(1.0)
    assert screen.loc[("leak", "BBB"), "hit_rate"] == pytest.approx(1.0)
    assert "rank correlation with the return of the day it is for is +1.00" in str(
        screen.loc[("leak", "BBB"), "reason"]
    )
    # the previous day's correlation by hand: the forecast against r_{t-1} (none for the first)
    part = fc[fc["instrument"] == "AAA"]
    r = prices["AAA"].pct_change()
    prev = r.shift(1).reindex(pd.DatetimeIndex(part["date"])).to_numpy()
    ok = np.isfinite(prev)
    rho = stats.spearmanr(part["honest"].to_numpy()[ok], prev[ok]).statistic
    assert screen.loc[("honest", "AAA"), "rank_corr_prev"] == pytest.approx(rho, abs=1e-12)
    assert screen.loc[("honest", "AAA"), "n"] == len(part)
    # honest forecasts pass everywhere; the numbers of a flagged model are kept
    assert not screen.loc["honest", "look_ahead"].any()
    assert np.isfinite(trades.net["leak"]).all() and trades.net["leak"].mean() > 0


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A panel evaluation of returns on a CSV of the four instruments."""
    root = tmp_path_factory.mktemp("panel_lookahead")
    csv = root / "long.csv"
    pd.concat(
        pd.DataFrame({"date": p.index.strftime("%Y-%m-%d"), "ticker": n, "close": p.to_numpy()})
        for n, p in _prices().items()
    ).to_csv(csv, index=False)
    cfg = PanelEvaluationConfig(
        data=str(csv),
        target="return",
        models=("no_change", "historical_mean", "ar1"),
        test_start="2012-09-03",
        refit_every=60,
        min_train=150,
        mcs_reps=50,
        n_jobs=1,
        out=str(root / "ev"),
    )
    run_panel_evaluation(cfg)
    return root / "ev"


def test_imported_forecasts_are_screened_per_instrument_and_kept(
    evaluated: Path, tmp_path: Path
) -> None:
    run = tmp_path / "ev"
    shutil.copytree(evaluated, run)
    fc = pd.read_parquet(run / "forecasts.parquet")
    prices = _prices()
    same_day = np.array(
        [
            prices[str(n)].pct_change()[pd.Timestamp(d)]
            for n, d in zip(fc["instrument"], fc["date"], strict=True)
        ]
    )
    # the imported historical_mean column is replaced by a leak on CCC (ar1 elsewhere)
    fc["historical_mean"] = np.where(fc["instrument"] == "CCC", same_day, fc["ar1"])
    fc.to_parquet(run / "forecasts.parquet", index=False)

    out = tmp_path / "bt"
    res = run_panel_backtest(
        PanelBacktestConfig(from_run=str(run), models=("ar1", "historical_mean"), out=str(out))
    )
    table = pd.read_csv(out / "backtest.csv", index_col="model")
    assert table["look_ahead"].to_dict() == {"ar1": False, "historical_mean": True}
    assert np.isfinite(table.loc["historical_mean", ["sharpe", "dsr"]].astype(float)).all()  # kept
    screen = pd.read_csv(out / "lookahead.csv", index_col=["model", "instrument"])
    assert sorted(screen.index[screen["look_ahead"]]) == [("historical_mean", "CCC")]
    assert screen.loc[("historical_mean", "CCC"), "rank_corr"] == pytest.approx(1.0)
    saved = json.loads((out / "pbo.json").read_text())
    assert saved["possible_look_ahead"] == ["historical_mean"]
    assert len(saved["look_ahead_screen"]) == 2 * len(NAMES)
    assert res.verdict().startswith("Possible look-ahead in historical_mean on CCC")
    # the honest model's screen passes on every instrument
    assert not screen.loc["ar1", "look_ahead"].any()
    # the command line prints each flag with its reason, and keeps the numbers
    res = runner.invoke(
        app,
        [
            "backtest",
            "--from-run",
            str(run),
            "--models",
            "ar1,historical_mean",
            "--out",
            str(tmp_path / "cli"),
        ],
    )
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "possible look-ahead: historical_mean on CCC: its rank correlation" in said
    assert "Possible look-ahead in historical_mean on CCC" in said

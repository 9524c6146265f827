"""gc.backtest_panel: each model's PSR, DSR and PBO recomputed from the daily net returns the
run stored (closed forms; N counted by hand), the verdict's rules, trading a finished panel
evaluation (``from_run``) with its look-ahead, settings and data checks, and the report page."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import gatecast as gc
from gatecast.errors import AlignmentError, ConfigError, ModelFileError
from gatecast.evaluation.trading import cscv_pbo
from gatecast.evaluation.trading.cross_section import CrossSectionRule, cross_section_weights
from gatecast.experiment.panel_backtest import (
    PanelBacktestConfig,
    deflate_panel,
    run_panel_backtest,
)
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, run_panel_evaluation
from gatecast.experiment.registry import label
from gatecast.experiment.report import build_report
from gatecast.experiment.report.panel_backtest import panel_backtest_verdict

MODELS = ("no_change", "historical_mean", "ar1")
WALK = {"test_start": "2010-12-20", "refit_every": 40, "min_train": 150, "mcs_reps": 50}


def _frames(seed: int = 0) -> dict[str, pd.DataFrame]:
    days = pd.bdate_range("2010-01-01", periods=420, name="date")
    rng = np.random.default_rng(seed)
    return {
        n: pd.DataFrame(
            {"close": 100 * np.exp(np.cumsum(v * 0.01 * rng.standard_normal(len(days))))}, days
        )
        for n, v in (("AAA", 1.0), ("BBB", 2.0), ("CCC", 0.5), ("DDD", 1.5), ("EEE", 1.2))
    }


def _long_csv(path: Path) -> Path:
    parts = [
        df.reset_index().assign(ticker=n, date=lambda d: d["date"].dt.strftime("%Y-%m-%d"))
        for n, df in _frames().items()
    ]
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A panel evaluation of returns and a panel backtest of the same walk, both on a CSV."""
    root = tmp_path_factory.mktemp("panel_bt")
    csv = _long_csv(root / "long.csv")
    common = {"data": str(csv), "models": MODELS, "n_jobs": 1, **WALK}
    run_panel_evaluation(PanelEvaluationConfig(**common, target="return", out=str(root / "ev")))
    run_panel_backtest(PanelBacktestConfig(**common, cost_bps=3.0, out=str(root / "bt")))
    return {"csv": csv, "ev": root / "ev", "bt": root / "bt", "root": root}


def _closed_form(x: np.ndarray, n_trials: int, var_sr: float) -> tuple[float, float, float]:
    """Per-period Sharpe ratio, PSR(0) and DSR of daily returns x: Bailey and Lopez de Prado's
    formulas with scipy's moments, written out here."""
    sr = x.mean() / x.std(ddof=1)
    g3, g4 = stats.skew(x), stats.kurtosis(x, fisher=False)
    sd = math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    psr = stats.norm.cdf(sr * math.sqrt(len(x) - 1) / sd)
    e = np.euler_gamma
    q = (1 - e) * stats.norm.ppf(1 - 1 / n_trials) + e * stats.norm.ppf(1 - 1 / (n_trials * np.e))
    sr0 = math.sqrt(var_sr) * q
    dsr = stats.norm.cdf((sr - sr0) * math.sqrt(len(x) - 1) / sd)
    return float(sr), float(psr), float(dsr)


def test_psr_dsr_and_pbo_are_those_of_the_stored_net_returns(runs: dict[str, Path]) -> None:
    run = gc.Run.open(runs["bt"])
    table, daily = run.table("backtest"), run.table("returns")
    pbo = run.json("pbo.json")
    # N by hand: three models asked for, three different net series (no change's is all zeros:
    # it never trades, so it has no Sharpe ratio, but it is a strategy tried)
    assert set(table["n_trials"]) == {3} and pbo["n_trials"] == 3
    assert pbo["trials"]["same_as"] == {}
    assert (daily["no_change_net"] == 0).all()
    traded = ["historical_mean", "ar1"]
    srs = {m: daily[f"{m}_net"].mean() / daily[f"{m}_net"].std(ddof=1) for m in traded}
    var_sr = float(np.var(list(srs.values()), ddof=1))
    assert pbo["var_sharpe_per_period"] == pytest.approx(var_sr, rel=1e-9)
    for m in traded:
        sr, psr, dsr = _closed_form(daily[f"{m}_net"].to_numpy(), 3, var_sr)
        assert table.loc[m, "sharpe"] == pytest.approx(sr * math.sqrt(252), rel=1e-9)
        assert table.loc[m, "psr"] == pytest.approx(psr, abs=1e-9)
        assert table.loc[m, "dsr"] == pytest.approx(dsr, abs=1e-9)
        assert table.loc[m, "dsr"] < table.loc[m, "psr"]  # deflating for 3 trials costs
    assert np.isnan(table.loc["no_change", "psr"]) and np.isnan(table.loc["no_change", "dsr"])
    # the PBO: CSCV on the same net returns of the trials with a Sharpe ratio
    again = cscv_pbo(daily[[f"{m}_net" for m in traded]].to_numpy(), 16)
    assert pbo["pbo"] == pytest.approx(again.pbo) and pbo["n_configs"] == 2
    assert gc.Run.open(runs["bt"]).json("metrics.json")["pbo"] == pytest.approx(again.pbo)


def test_identical_books_count_once_and_overrides_replace_n() -> None:
    rng = np.random.default_rng(3)
    a, b = 0.01 * rng.standard_normal(200), 0.01 * rng.standard_normal(200)
    net = pd.DataFrame({"lstm": a, "lstm_local": a.copy(), "ar1": b, "no_change": 0.0 * a})
    st = deflate_panel(net, pbo_blocks=4)
    # by hand: lstm_local repeats lstm's book; no_change is a book of its own (all zeros)
    assert st.n_trials == 3 and st.trial_set.same_as == {"lstm_local": "lstm"}
    sr = [a.mean() / a.std(ddof=1), b.mean() / b.std(ddof=1)]
    _, _, dsr = _closed_form(a, 3, float(np.var(sr, ddof=1)))
    assert st.table.loc["lstm", "dsr"] == pytest.approx(dsr, abs=1e-9)
    assert st.table.loc["lstm_local", "dsr"] == st.table.loc["lstm", "dsr"]
    forced = deflate_panel(net, n_trials=50, var_sharpe=1e-4, pbo_blocks=4)
    _, psr, dsr50 = _closed_form(a, 50, 1e-4)
    assert forced.n_trials == 50
    assert forced.table.loc["lstm", "dsr"] == pytest.approx(dsr50, abs=1e-9)
    assert forced.table.loc["lstm", "psr"] == pytest.approx(psr, abs=1e-9)
    short = deflate_panel(net.iloc[:20], pbo_blocks=16)
    assert short.pbo is None and "20 days are too few for 16 CSCV blocks" in short.pbo_note


def _table(sharpe: list[float], dsr: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"sharpe": sharpe, "psr": [0.9] * len(sharpe), "dsr": dsr, "turnover_year": 50.0},
        index=pd.Index(["lstm", "ar1"], name="model"),
    )


def test_the_verdict_says_beats_only_above_zero_and_names_a_weak_dsr() -> None:
    none = panel_backtest_verdict(_table([-0.3, -0.1], [0.1, 0.2]), 5, 2, 0.6)
    assert none.startswith("No model's book beats cash after costs")
    assert "AR(1) -0.10 (DSR 0.20" in none and "N = 2 trials; PBO 0.60" in none
    weak = panel_backtest_verdict(_table([0.4, -0.1], [0.7, 0.1]), 5, 2, None)
    assert weak.startswith(f"{label('lstm')} beats cash after costs at 5 bps")
    assert "no DSR reaches 0.95, so none is evidence of skill" in weak and "AR(1)" not in weak
    strong = panel_backtest_verdict(_table([1.5, 0.2], [0.97, 0.3]), 5, 2, None)
    assert "beat cash" in strong and "no DSR reaches" not in strong


def test_from_run_trades_the_runs_forecasts_without_refitting(runs: dict[str, Path]) -> None:
    res = gc.backtest_panel(from_run=runs["ev"], models="ar1,historical_mean", cost_bps=3.0)
    assert res.evaluation is None and list(res.table.index) == ["ar1", "historical_mean"]
    # ar1's book recomputed from the run's forecasts file and the CSV's prices
    fc = pd.read_parquet(runs["ev"] / "forecasts.parquet")
    w = cross_section_weights(
        fc.pivot(index="date", columns="instrument", values="ar1"), CrossSectionRule()
    )
    prices = pd.read_csv(runs["csv"], parse_dates=["date"])
    wide = prices.pivot(index="date", columns="ticker", values="close")
    r = (wide / wide.shift(1) - 1).reindex(w.index)
    turnover = np.abs(np.diff(w.to_numpy(), axis=0, prepend=0)).sum(axis=1)
    net = (w.to_numpy() * r.to_numpy()).sum(axis=1) - 3e-4 * turnover
    assert res.table.loc["ar1", "ann_return"] == pytest.approx(net.mean() * 252)
    # N counts the models asked for: two here
    assert set(res.table["n_trials"]) == {2}


def test_from_run_refuses_a_look_ahead_forecast_file(runs: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "ev"
    shutil.copytree(runs["ev"], bad)
    fc = pd.read_parquet(bad / "forecasts.parquet")
    row = fc.index[(fc["instrument"] == "CCC")][10]
    fc.loc[row, "as_of"] = fc.loc[row, "date"]  # the forecast saw the day it is for
    fc.to_parquet(bad / "forecasts.parquet")
    day = pd.Timestamp(fc.loc[row, "date"]).date()
    with pytest.raises(AlignmentError, match=f"instrument 'CCC': the forecast for {day} used"):
        gc.backtest_panel(from_run=bad, out=str(tmp_path / "bt"))
    assert not (tmp_path / "bt").exists()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"test_start": "2011-01-03"}, "test_start"),
        ({"refit_every": 10}, "refit_every"),
        ({"min_train": 100}, "min_train"),
        ({"column": "close"}, "column"),
    ],
)
def test_from_run_refuses_walk_settings_by_name(
    runs: dict[str, Path], given: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=f"{named}.*made with the data and walk-forward"):
        gc.backtest_panel(from_run=runs["ev"], **given)  # type: ignore[arg-type]


def test_from_run_refuses_other_runs_and_targets(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="holds a panel-backtest run"):
        gc.backtest_panel(from_run=runs["bt"])
    variance = tmp_path / "ev"
    shutil.copytree(runs["ev"], variance)
    text = (variance / "run.json").read_text().replace('"target": "return"', '"target": "variance"')
    (variance / "run.json").write_text(text)
    with pytest.raises(ConfigError, match=r"holds variance forecasts.*--target return"):
        gc.backtest_panel(from_run=variance)


def test_prices_passed_in_must_be_passed_again_and_be_the_same(tmp_path: Path) -> None:
    frames = _frames(seed=5)
    panel = gc.load_panel(frames)
    out = tmp_path / "ev"
    cfg = {"models": ("historical_mean", "ar1"), "reference": "ar1", "n_jobs": 1, **WALK}
    run_panel_evaluation(PanelEvaluationConfig(data=panel, target="return", out=str(out), **cfg))
    with pytest.raises(ConfigError, match=r"passed in from Python.*pass them again"):
        gc.backtest_panel(from_run=out)
    moved = {n: df.copy() for n, df in frames.items()}
    moved["DDD"].iloc[300, 0] *= 1.01
    with pytest.raises(ConfigError, match="prices of DDD are not those the run"):
        gc.backtest_panel(gc.load_panel(moved), from_run=out)
    fewer = gc.load_panel({n: df for n, df in frames.items() if n != "EEE"})
    with pytest.raises(ConfigError, match="differ: EEE"):
        gc.backtest_panel(fewer, from_run=out)
    res = gc.backtest_panel(gc.load_panel(frames), from_run=out, pbo_blocks=4)
    assert list(res.table.index) == ["historical_mean", "ar1"] and res.pbo is not None


def test_the_report_page_recomputes_to_its_verdict(runs: dict[str, Path]) -> None:
    folder = runs["bt"]
    assert (folder / "report.html").is_file()  # written at the run's end
    report = build_report(folder, figures=True)
    assert report.kind == "panel-backtest"
    daily = pd.read_parquet(folder / "returns.parquet")
    pbo = gc.Run.open(folder).json("pbo.json")
    traded = ["historical_mean", "ar1"]
    srs = {m: daily[f"{m}_net"].mean() / daily[f"{m}_net"].std(ddof=1) for m in traded}
    best = max(srs, key=lambda m: srs[m])
    _, psr, dsr = _closed_form(
        daily[f"{best}_net"].to_numpy(), 3, float(np.var(list(srs.values()), ddof=1))
    )
    turnover = daily[f"{best}_turnover"].mean() * 252
    expect = (
        f"{label(best)} {srs[best] * math.sqrt(252):+.2f} (DSR {dsr:.2f}, PSR {psr:.2f}, "
        f"turnover {turnover:.0f}x a year)"
    )
    assert expect in report.verdict
    assert f"N = 3 trials; PBO {pbo['pbo']:.2f}" in report.verdict
    assert ("beats cash" in report.verdict) == (srs[best] > 0)
    assert {p.id for p in report.panels} >= {"fig-equity"}
    assert report.tables[0].frame.loc[label("ar1"), "n_trials"] == 3
    page = report.to_html()
    assert "dollar-neutral" in page and "Cumulative net return" in page


def test_backtest_panel_passes_evaluate_panels_own_settings() -> None:
    # epochs and seed are evaluate_panel's names (the config's are recurrent_epochs and none)
    res = gc.backtest_panel(
        gc.load_panel(_frames()),
        models="ar1,historical_mean",
        epochs=1,
        seed=0,
        reference="ar1",
        pbo_blocks=4,
        **WALK,  # type: ignore[arg-type]
    )
    assert list(res.table.index) == ["ar1", "historical_mean"] and res.evaluation is not None

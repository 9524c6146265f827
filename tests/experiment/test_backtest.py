"""The backtest run: saved forecasts traded with the benchmarks, N by the one rule of the study,
files that an independent computation reproduces, a finished evaluate folder traded without
refitting and labelled as its run, look-ahead refused or flagged, and nothing left behind by a
run that fails."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gatecast.data import gbm
from gatecast.errors import AlignmentError, ConfigError, ModelFileError
from gatecast.evaluation.trading import INFORMATION_DATE
from gatecast.experiment.backtest import (
    BacktestConfig,
    backtest_forecasts,
    run_backtest,
    write_backtest,
)
from gatecast.experiment.evaluation import EvaluationConfig
from gatecast.experiment.run_folder import write_run_record

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


def test_n_is_the_seeds_of_the_models_asked_for_and_the_benchmarks_are_shown(
    tmp_path: Path,
) -> None:
    """The hand-built study: lstm's two seeds and their mean, ar1, gru taking ar1's very trades
    and har, which is not asked for: N = 3 (lstm[s0], lstm[s1], ar1), not every column."""
    fc, r, v = _market()
    fc["gru"] = 2.0 * fc["ar1"]  # other numbers, the same signs: the same strategy as ar1
    fc["har"] = np.random.default_rng(7).normal(0, 1e-3, N_DAYS)
    res = backtest_forecasts(fc, r, v, BacktestConfig(cost_bps=5), models=("lstm", "ar1", "gru"))
    assert list(res.table.index) == ["lstm", "ar1", "gru", "buy_and_hold", "garch_vol_target"]
    assert res.n_trials == 3
    assert res.table["n_trials"].tolist() == [3, 3, 3, 1, 1]
    net = res.trades.net()
    sr = [net[c].mean() / net[c].std(ddof=1) for c in ("lstm[s0]", "lstm[s1]", "ar1")]
    assert res.var_sharpe == pytest.approx(np.var(sr, ddof=1), rel=1e-12)
    assert res.pbo is not None and res.pbo.n_configs == 3
    write_backtest(res, tmp_path)
    facts = json.loads((tmp_path / "pbo.json").read_text())
    assert facts["n_trials"] == 3 and facts["trials"]["n_trials"] == 3
    assert facts["trials"]["trials"] == ["lstm[s0]", "lstm[s1]", "ar1"]
    assert facts["trials"]["same_as"] == {"gru": "ar1"}
    assert facts["trials"]["left_out"] == ["lstm", "har"]
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
    assert res.suspects == [] and not res.table["look_ahead"].any()


def test_a_clairvoyant_gets_possible_look_ahead_not_beats_buy_and_hold() -> None:
    """A forecast that knows each day's return is flagged and compared with nothing; an honest
    skilled one (rank correlation about 0.15) still gets its comparison."""
    fc, r, v = _market(2)
    fc["clairvoyant"] = r.to_numpy()
    noise = np.random.default_rng(4).normal(0, 0.066, N_DAYS)
    fc["skilled"] = r.to_numpy() + noise
    res = backtest_forecasts(fc, r, v, BacktestConfig(cost_bps=0), models=("clairvoyant",))
    assert res.table.loc["clairvoyant", "sharpe"] > 10
    assert res.suspects == ["clairvoyant"]
    assert res.verdict().startswith("Possible look-ahead in clairvoyant (clairvoyant: its rank")
    assert "beats" not in res.verdict() and "compared with nothing" in res.verdict()
    both = backtest_forecasts(
        fc, r, v, BacktestConfig(cost_bps=0), models=("clairvoyant", "skilled")
    )
    assert both.suspects == ["clairvoyant"]
    assert "skilled beats buy-and-hold" in both.verdict()
    assert "clairvoyant" not in both.verdict().split("compared with nothing.")[1]
    facts = both.to_dict()
    assert facts["possible_look_ahead"] == ["clairvoyant"]
    assert facts["look_ahead_screen"]["skilled"]["look_ahead"] is False
    assert facts["look_ahead_screen"]["garch_vol_target"]["look_ahead"] is False


def test_every_numeric_option_and_the_blocks_are_checked_before_any_work() -> None:
    for kw, match in [
        ({"cost_bps": math.nan}, "--cost-bps nan"),
        ({"cost_bps": -1.0}, "--cost-bps -1.0"),
        ({"cap": math.inf}, "--cap inf"),
        ({"target_vol": math.nan}, "--target-vol nan"),
        ({"upper": math.nan}, "--upper nan"),
        ({"var_sharpe_annual": math.inf}, "--var-sharpe inf"),
        ({"cost_levels": (0.0, math.nan)}, r"cost_levels\[1\] nan"),
        ({"pbo_blocks": 7}, "--blocks 7: .* even number >= 2"),
        ({"pbo_blocks": 1}, "--blocks 1: "),
        ({"seeds": 0}, "seeds=0: must be an integer >= 1"),
        ({"n_trials": 0}, "--n-trials 0: must be >= 1"),
    ]:
        with pytest.raises(ConfigError, match=match):
            BacktestConfig(**kw)


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
    fc[INFORMATION_DATE] = prices.index[559:-1]  # each forecast from the day before, as evaluate
    fc.to_parquet(run / "forecasts.parquet")
    return run


def _tampered(run: Path, to: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    """A copy of the evaluate folder ``run`` whose forecasts.parquet is replaced by ``edit``'s."""
    shutil.copytree(run, to)
    fc = pd.read_parquet(to / "forecasts.parquet")
    edit(fc).to_parquet(to / "forecasts.parquet")
    return to


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
    assert res.n_trials == 3  # lstm[s0], lstm[s1], ar1: the seed mean reports them
    assert (tmp_path / "bt" / "pbo.json").is_file()
    assert not (tmp_path / "bt" / "evaluation").exists()
    assert not list((tmp_path / "bt").glob(".backtest-*"))  # the staging folder is gone
    assert res.suspects == []


def test_a_finished_run_is_labelled_with_its_own_data_and_test_period(
    evaluate_folder: Path, tmp_path: Path
) -> None:
    saved = json.loads((evaluate_folder / "metrics.json").read_text())["config"]
    cfg = BacktestConfig(from_run=str(evaluate_folder), n_jobs=1, out=str(tmp_path / "bt"))
    res = run_backtest(cfg)
    assert (res.config.data, res.config.test_start) == (saved["data"], saved["test_start"])
    assert res.config.seeds == 2 and res.config.data != BacktestConfig().data
    written = json.loads((tmp_path / "bt" / "config.json").read_text())
    facts = json.loads((tmp_path / "bt" / "pbo.json").read_text())
    assert written["data"] == facts["data"] == saved["data"]
    assert written["test_start"] == facts["test_start"] == saved["test_start"]


def test_walk_settings_beside_a_finished_run_are_refused_by_name(evaluate_folder: Path) -> None:
    for kw, name in [
        ({"data": "nasdaq"}, "--data 'nasdaq'"),
        ({"test_start": "2016-01-04"}, "--test-start '2016-01-04'"),
        ({"hidden": 8}, "--hidden 8"),
    ]:
        with pytest.raises(ConfigError, match=f"{name}: the forecasts of --from-run .* ignored"):
            run_backtest(BacktestConfig(from_run=str(evaluate_folder), **kw))


# -- look-ahead in a finished run --------------------------------------------------------------------
def test_the_reviews_look_ahead_in_a_replaced_forecasts_file_is_flagged(
    evaluate_folder: Path, tmp_path: Path
) -> None:
    """forecasts.parquet replaced so that lstm's forecast for day t is day t's own return: with
    the run's information dates kept, or with a frame of the user's own without them."""

    def own_day(fc: pd.DataFrame) -> pd.DataFrame:
        return fc.assign(lstm=fc["actual"])

    for name, edit in [
        ("kept", own_day),
        ("own", lambda fc: own_day(fc).drop(columns=INFORMATION_DATE)),
    ]:
        run = _tampered(evaluate_folder, tmp_path / name, edit)
        out = tmp_path / f"bt_{name}"
        res = run_backtest(BacktestConfig(from_run=str(run), n_jobs=1, out=str(out)))
        assert res.table.loc["lstm", "sharpe"] > 10
        assert res.suspects == ["lstm"]
        verdict = json.loads((out / "pbo.json").read_text())["verdict"]
        assert verdict.startswith("Possible look-ahead in lstm")
        assert "lstm beats" not in verdict
        assert "Possible look-ahead in lstm" in (out / "report.html").read_text()


def test_forecasts_whose_information_date_is_the_traded_day_are_refused(
    evaluate_folder: Path, tmp_path: Path
) -> None:
    def same_day(fc: pd.DataFrame) -> pd.DataFrame:
        fc[INFORMATION_DATE] = fc.index  # each forecast made at the close of the day it is for
        return fc

    run = _tampered(evaluate_folder, tmp_path / "run", same_day)
    out = tmp_path / "bt"
    first = pd.read_parquet(run / "forecasts.parquet").index[0].date()
    with pytest.raises(AlignmentError, match=f"'as_of': the forecast for {first}"):
        run_backtest(BacktestConfig(from_run=str(run), n_jobs=1, out=str(out)))
    assert not out.exists()  # refused before the benchmark was fitted, nothing written


# -- a failed run leaves nothing -----------------------------------------------------------------
def test_a_model_missing_from_a_finished_run_leaves_no_folder(
    evaluate_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bt"
    cfg = BacktestConfig(from_run=str(evaluate_folder), models=("gru",), n_jobs=1, out=str(out))
    with pytest.raises(ConfigError, match=r"model.* gru have no forecasts"):
        run_backtest(cfg)
    assert not out.exists()


def test_an_error_after_the_walk_removes_what_the_run_made_but_not_a_resumable_walk(
    evaluate_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatecast.experiment import backtest

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise ConfigError("failed after the walk-forward")

    monkeypatch.setattr(backtest, "backtest_forecasts", fails)
    data = json.loads((evaluate_folder / "metrics.json").read_text())["config"]["data"]
    fresh = dict(data=data, models=("ar1", "no_change"), n_jobs=1, quiet=True)
    start = str(pd.read_parquet(evaluate_folder / "forecasts.parquet").index[0].date())
    out = tmp_path / "new"
    with pytest.raises(ConfigError, match="failed after the walk-forward"):
        run_backtest(BacktestConfig(**fresh, test_start=start, out=str(out)))
    assert not out.exists()  # the run made it: removed whole
    # a folder a killed run left (its walk-forward, to resume) stays as it was found
    kept = tmp_path / "killed"
    (kept / "evaluation").mkdir(parents=True)
    (kept / "evaluation" / "marker").write_text("left by a killed run")
    record = write_run_record(kept, "backtest", "running")
    with pytest.raises(ConfigError, match="failed after the walk-forward"):
        run_backtest(BacktestConfig(**fresh, test_start=start, out=str(kept), resume=True))
    # the walks' progress (the models' and the GARCH benchmark's folds) stays, to resume
    assert sorted(p.name for p in kept.iterdir()) == ["benchmark_garch", "evaluation", "run.json"]
    assert json.loads((kept / "run.json").read_text()) == record  # as it was found
    assert (kept / "evaluation" / "marker").is_file()
    assert (kept / "evaluation" / "folds").is_dir()  # the walk's progress, to resume


def test_a_failure_while_writing_leaves_no_backtest_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatecast.errors import ReportError
    from gatecast.experiment import backtest

    def broken(folder: Any) -> Any:
        raise ReportError("the page cannot be drawn")

    monkeypatch.setattr(backtest, "write_report", broken)
    fc, r, v = _market(1)
    res = backtest_forecasts(fc, r, v, BacktestConfig(), models=("lstm", "ar1"))
    (tmp_path / "old.txt").write_text("kept")
    with pytest.raises(ReportError):
        write_backtest(res, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


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


def test_annualisation_follows_the_datas_bars() -> None:
    """Minute bars were annualised as if they were days (x252): a Sharpe ratio of 5-minute
    returns scaled by sqrt(252) instead of sqrt(bars a year)."""
    import exchange_calendars as xcals

    from gatecast.data.calendar import bars_per_year
    from gatecast.data.sources import load
    from gatecast.experiment.backtest import periods_of

    assert periods_of(load("sp500")) == 252.0  # daily: the convention
    with warnings.catch_warnings():  # exchange_calendars' own use of pandas 3 deprecations
        warnings.simplefilter("ignore")
        xnys = xcals.get_calendar("XNYS")
        minutes = xnys.minutes_in_range(
            pd.Timestamp("2022-01-03 14:30", tz="UTC"), pd.Timestamp("2023-12-29 21:00", tz="UTC")
        )
    bars = minutes[minutes.minute % 5 == 0].tz_convert("America/New_York").tz_localize(None)
    frame = pd.DataFrame({"close": 100.0 + np.arange(len(bars)) * 1e-3}, index=bars)
    frame.attrs["calendar"] = "XNYS"
    sessions = len(xnys.sessions_in_range("2022-01-03", "2023-12-29")) / 2
    per_session = len(bars) / (2 * sessions)
    assert periods_of(frame) == pytest.approx(sessions * per_session, rel=0.01)
    assert periods_of(frame) == bars_per_year(frame.index, "XNYS")
    weekly = pd.DataFrame({"close": 1.0}, index=pd.date_range("2000-01-07", periods=500, freq="W"))
    assert periods_of(weekly) == pytest.approx(365.2425 / 7)

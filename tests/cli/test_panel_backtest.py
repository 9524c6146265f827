"""`gatecast backtest` on a panel: the panel-backtest run folder Run.open reads, its numbers
from the forecasts it wrote, the options that do not apply refused with exit 2, and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.evaluation.trading.cross_section import CrossSectionRule, cross_section_weights
from gatecast.experiment.run_reader import Run

runner = CliRunner()


@pytest.fixture
def csv(tmp_path: Path, small_panel, long_csv) -> Path:
    """Four instruments on the same 330 business days."""
    frames = small_panel({"AAA": 1.0, "BBB": 2.0, "CCC": 0.5, "DDD": 1.5}, 330)
    return long_csv(frames, tmp_path / "long.csv")


TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "40"]


def _backtest(csv: Path, out: Path, *extra: str) -> object:
    args = ["backtest", "--data", str(csv), "--panel", "--models", "lstm,no_change,ar1"]
    args += ["--window", "5", "--test-start", "2010-12-20", "--fraction", "0.25"]
    return runner.invoke(app, [*args, "--out", str(out), *TINY, *extra])


def test_a_panel_backtest_runs_end_to_end_and_run_open_reads_it(tmp_path: Path, csv: Path) -> None:
    out = tmp_path / "run"
    res = _backtest(csv, out, "--cost-bps", "10")
    assert res.exit_code == 0, res.output
    assert "cross-section top_bottom 0.25" in res.output
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-backtest", "finished")
    table = run.table("backtest")
    assert list(table.index) == ["lstm", "no_change", "ar1"]
    # no change forecasts zero for every instrument: it never trades
    assert table.loc["no_change", "turnover"] == 0 and table.loc["no_change", "ann_return"] == 0
    # the AR(1)'s book, recomputed from the forecasts the run wrote
    fc = pd.read_parquet(out / "evaluation" / "forecasts.parquet")
    wide = fc.pivot(index="date", columns="instrument", values="ar1")
    w = cross_section_weights(wide, CrossSectionRule("top_bottom", 0.25))
    prices = pd.read_csv(csv, parse_dates=["date"]).pivot(
        index="date", columns="ticker", values="close"
    )
    r = (prices / prices.shift(1) - 1).reindex(w.index)
    gross = (w.to_numpy() * r.to_numpy()).sum(axis=1)
    turnover = np.abs(np.diff(w.to_numpy(), axis=0, prepend=0)).sum(axis=1)
    net = gross - 10e-4 * turnover
    assert table.loc["ar1", "ann_return"] == pytest.approx(net.mean() * 252)
    assert table.loc["ar1", "turnover"] == pytest.approx(turnover.mean())
    daily = run.table("returns")
    np.testing.assert_allclose(daily["ar1_net"].to_numpy(), net)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rule", "long_flat"], "--rule does not apply to a panel backtest"),
        (["--sweep", "x"], "--sweep x: no readable run.json"),
        (["--target-vol", "12"], "--target-vol does not apply to a panel backtest"),
        (["--blocks", "3"], "--blocks 3: the CSCV blocks of the PBO must be an even number"),
        (["--models", "gjr_t"], "gjr_t"),
        (["--cross-section", "rank", "--fraction", "0.8"], "fraction=0.8"),
    ],
)
def test_options_that_do_not_apply_exit_2_and_write_nothing(
    tmp_path: Path, csv: Path, extra: list[str], message: str, refused
) -> None:
    out = tmp_path / "run"
    refused(_backtest(csv, out, *extra), message, out)


def test_cross_section_options_without_a_panel_are_refused(tmp_path: Path) -> None:
    args = ["backtest", "--data", "sp500", "--out", str(tmp_path / "r"), "--fraction", "0.3"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--fraction trade a panel" in " ".join(res.output.split())


def test_backtest_panel_in_python_matches_its_evaluation() -> None:
    days = pd.bdate_range("2010-01-01", periods=300, name="date")
    rng = np.random.default_rng(1)
    panel = gc.load_panel(
        {
            n: pd.DataFrame(
                {"close": 50 * np.exp(np.cumsum(0.01 * rng.standard_normal(300)))}, days
            )
            for n in ("A", "B", "C")
        }
    )
    res = gc.backtest_panel(
        panel,
        test_start="2010-10-01",
        models="no_change,historical_mean,ar1",
        cross_section="rank",
        cost_bps=0,
        min_train=150,
        refit_every=60,
        mcs_reps=50,
    )
    assert list(res.table.index) == ["no_change", "historical_mean", "ar1"]
    assert (res.trades.net == res.trades.gross).all().all()  # no cost
    assert np.allclose(res.trades.weights["ar1"].sum(axis=1), 0)  # dollar-neutral


def test_resume_after_a_kill_ends_with_the_same_numbers(tmp_path: Path, csv: Path) -> None:
    out = tmp_path / "run"
    assert _backtest(csv, out).exit_code == 0
    before = pd.read_csv(out / "backtest.csv")
    # what a kill leaves: the last global refit unfinished (its JSON is written last), no results
    (out / "evaluation" / "folds" / "lstm" / "fold_0001.json").unlink()
    for name in ("metrics.json", "backtest.csv", "returns.parquet"):
        (out / name).unlink()
    res = _backtest(csv, out, "--resume")
    assert res.exit_code == 0, res.output
    assert "read back from the earlier run" in res.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "backtest.csv"), before)
    assert Run.open(out).status == "finished"


def _return_run(csv: Path, out: Path) -> Path:
    """A finished panel evaluation of returns (baselines only: no fit to wait for)."""
    from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, run_panel_evaluation

    cfg = PanelEvaluationConfig(
        data=str(csv),
        target="return",
        models=("no_change", "historical_mean", "ar1"),
        test_start="2010-12-20",
        refit_every=40,
        mcs_reps=50,
        n_jobs=1,
        out=str(out),
    )
    run_panel_evaluation(cfg)
    return out


def test_from_run_trades_a_panel_evaluation_and_writes_its_page(tmp_path: Path, csv: Path) -> None:
    ev = _return_run(csv, tmp_path / "ev")
    out = tmp_path / "bt"
    args = ["backtest", "--from-run", str(ev), "--out", str(out), "--blocks", "4"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "panel (a panel run)" in text and "PBO " in text and "N = 3 trials" in text
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-backtest", "finished")
    assert list(run.table("backtest").columns[:6]) == [
        "ann_return",
        "ann_return_gross",
        "sharpe",
        "sharpe_gross",
        "psr",
        "dsr",
    ]
    assert not (out / "evaluation").exists()  # nothing refit
    assert run.json("metrics.json")["from_run"] == str(ev)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'class="verdict"' in page and "backtest on a panel" in page


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--test-start", "2011-01-03"], "--test-start"),
        (["--data", "other.csv"], "--data"),
        (["--refit-every", "10"], "--refit-every"),
        (["--epochs", "3"], "--epochs"),
    ],
)
def test_from_run_refuses_walk_and_data_options_by_name(
    tmp_path: Path, csv: Path, extra: list[str], named: str
) -> None:
    ev = _return_run(csv, tmp_path / "ev")
    out = tmp_path / "bt"
    res = runner.invoke(app, ["backtest", "--from-run", str(ev), "--out", str(out), *extra])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert f"{named} does not apply to a panel backtest: the forecasts of --from-run" in text
    assert not out.exists()

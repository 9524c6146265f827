"""`import gatecast as gc`: the whole evaluate -> backtest -> report flow from a notebook, with a
DataFrame in and DataFrames, HTML views and figures out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import gatecast as gc
from gatecast.errors import ConfigError


@pytest.mark.slow
def test_evaluate_backtest_and_report_from_a_dataframe(tmp_path: Path) -> None:
    prices = gc.load("sp500").loc["2012":"2018"]
    settings = dict(test_start="2018-01-02", refit_every=63, n_jobs=1, quiet=True)
    ev = gc.evaluate(
        prices, target="return", models="ar1,no_change", out=tmp_path / "ev", **settings
    )
    assert set(ev.leaderboard.index) == {"ar1", "no_change"}
    assert ev.n_dates == len(prices.loc["2018-01-02":])  # every test day forecast
    assert "<table" in ev._repr_html_() and "DataFrame (1760 rows" in ev._repr_html_()
    figures = ev.plot()
    assert set(figures) == {"forecasts.png", "cumulative_loss.png"}
    assert all(isinstance(f, Figure) for f in figures.values())
    assert (tmp_path / "ev" / "report.html").is_file()
    run = gc.Run.open(tmp_path / "ev")
    assert (run.kind, run.status) == ("evaluate", "finished")
    np.testing.assert_allclose(
        run.table()["mse"].to_numpy(), ev.leaderboard["mse"].to_numpy(), rtol=1e-12
    )
    assert run.data is not None and run.data["rows"] == len(prices)
    with pytest.raises(ConfigError, match="was made on prices passed in from Python"):
        gc.backtest(from_run=tmp_path / "ev", models="ar1")
    moved = prices.copy()
    moved.iloc[-1, 3] *= 1.01
    with pytest.raises(ConfigError, match=r"not those the run .* its content hash differs"):
        gc.backtest(moved, from_run=tmp_path / "ev", models="ar1")
    bt = gc.backtest(prices, from_run=tmp_path / "ev", rule="sign", models="ar1", pbo_blocks=4)
    assert isinstance(bt.table, pd.DataFrame) and "ar1" in bt.table.index
    assert "buy-and-hold" in bt._repr_html_()
    assert set(bt.plot()) == {"equity.png", "drawdown.png", "cost_sweep.png"}


def test_a_setting_the_job_does_not_have_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"gc.evaluate\(\) has no setting model; its settings"):
        gc.evaluate("sp500", model="garch")
    with pytest.raises(ConfigError, match=r"gc.var\(\) has no setting lvl"):
        gc.var("sp500", lvl=0.99)


def test_the_face_lists_its_names_and_imports_no_torch() -> None:
    assert {"evaluate", "backtest", "var", "sweep", "train", "Run", "load"} <= set(dir(gc))
    code = (
        "import sys, gatecast as gc; gc.load; gc.evaluate; gc.Run; sys.exit('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        gc.nothing  # noqa: B018

"""`gatecast evaluate --seeds K` on a panel: the run folder's seeds.csv and seed_spread.csv,
what the command prints, and the inputs it refuses (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "40"]


def _long_csv(path: Path) -> Path:
    days = pd.bdate_range("2010-01-01", periods=300)
    rng = np.random.default_rng(1)
    parts = [
        pd.DataFrame(
            {
                "date": days.strftime("%Y-%m-%d"),
                "ticker": name,
                "close": 100 * np.exp((vol * 0.01 * rng.standard_normal(len(days))).cumsum()),
            }
        )
        for name, vol in (("AAA", 1.0), ("BBB", 2.0))
    ]
    pd.concat(parts).to_csv(path, index=False)
    return path


def _evaluate(tmp_path: Path, *extra: str) -> object:
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    args = ["evaluate", "--data", str(csv), "--panel", "--test-start", "2011-01-03"]
    return runner.invoke(app, [*args, "--out", str(out), *extra, *TINY])


def test_seeds_on_a_panel_end_to_end(tmp_path: Path) -> None:
    res = _evaluate(tmp_path, "--models", "lstm,garch", "--seeds", "2", "--n-jobs", "1")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "each seed alone" in text and "seed spread" in text
    run = Run.open(tmp_path / "run")
    per_seed = run.table("seeds")
    assert list(per_seed.index) == [("lstm", 0), ("lstm", 1)]
    spread = run.table("seed_spread")
    ratios = per_seed.loc["lstm", "median_ratio"]
    assert spread.loc["lstm", "ratio_min"] == pytest.approx(ratios.min())
    assert spread.loc["lstm", "ratio_sd"] == pytest.approx(ratios.std(ddof=1))
    assert list(run.table().index) == ["lstm", "garch"]  # the summary keeps one row per model
    fc = run.table("forecasts")
    assert {"lstm[s0]", "lstm[s1]", "lstm", "garch"} <= set(fc.columns)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--models", "lstm,garch", "--seeds", "0"], "seeds"),
        (["--models", "gjr_t,har", "--seeds", "2"], "--seeds does not apply to a panel: it sets"),
        (["--models", "lstm,gjr_t", "--ensemble"], "--ensemble does not apply to a panel: "),
    ],
)
def test_bad_seeds_exit_2_and_write_nothing(tmp_path: Path, extra: list[str], message: str) -> None:
    res = _evaluate(tmp_path, *extra)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert not (tmp_path / "run").exists()

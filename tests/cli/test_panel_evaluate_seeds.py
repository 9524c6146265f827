"""`gatecast evaluate --seeds K` on a panel: the run folder's seeds.csv and seed_spread.csv,
what the command prints, and the inputs it refuses (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "40"]


def _evaluate(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--test-start", "2011-01-03"]
    return runner.invoke(app, [*args, "--out", str(out), *extra, *TINY])


def test_seeds_on_a_panel_end_to_end(tmp_path: Path, panel_csv) -> None:
    res = _evaluate(
        panel_csv(300, seed=1),
        tmp_path / "run",
        "--models",
        "lstm,garch",
        "--seeds",
        "2",
        "--n-jobs",
        "1",
    )
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
def test_bad_seeds_exit_2_and_write_nothing(
    tmp_path: Path, panel_csv, refused, extra: list[str], message: str
) -> None:
    refused(_evaluate(panel_csv(300, seed=1), tmp_path / "run", *extra), message, tmp_path / "run")

"""`gatecast evaluate --target return` on a panel: the run folder Run.open reads, and the
options that do not apply refused with exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()


@pytest.fixture
def csv(tmp_path: Path, small_panel, long_csv) -> Path:
    """Three instruments on the same 330 business days."""
    frames = small_panel({"AAA": 1.0, "BBB": 2.0, "CCC": 0.5}, 330)
    return long_csv(frames, tmp_path / "long.csv")


TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "40"]


def _evaluate(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--target", "return"]
    args += ["--models", "lstm,no_change,ar1", "--window", "5", "--test-start", "2010-12-20"]
    return runner.invoke(app, [*args, "--out", str(out), *TINY, *extra])


def test_a_return_panel_runs_end_to_end_into_a_run_folder(tmp_path: Path, csv: Path) -> None:
    out = tmp_path / "run"
    res = _evaluate(csv, out)
    assert res.exit_code == 0, res.output
    assert "per instrument: MSE ratio to no_change" in res.output
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-evaluate", "finished")
    metrics = run.json("metrics.json")
    assert (metrics["target"], metrics["loss"], metrics["reference"]) == (
        "return",
        "mse",
        "no_change",
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "MSE ratio to" in page and "QLIKE" not in page  # the page names the return's loss
    table = run.table("per_instrument")
    assert len(table) == 3 * 3 and {"mse", "hit_rate", "ratio"} <= set(table.columns)
    fc = run.table("forecasts")
    # actual: that instrument's log return on that date, from its row before (as_of)
    prices = pd.read_csv(csv, parse_dates=["date"])
    a = prices[prices.ticker == "BBB"].set_index("date")["close"]
    first = fc[fc.instrument == "BBB"].iloc[0]
    assert first["actual"] == pytest.approx(np.log(a[first["date"]] / a[first["as_of"]]))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--proxy", "parkinson"], "--proxy does not apply to a panel"),
        (["--models", "gjr_t,no_change"], "gjr_t"),
    ],
)
def test_options_that_do_not_apply_exit_2_and_write_nothing(
    tmp_path: Path, csv: Path, extra: list[str], message: str, refused
) -> None:
    out = tmp_path / "run"
    refused(_evaluate(csv, out, *extra), message, out)


def test_covariates_with_a_return_target_on_a_panel_make_an_ablation() -> None:
    from gatecast.errors import ConfigError
    from gatecast.experiment.panel_evaluation import PanelEvaluationConfig

    cfg = PanelEvaluationConfig(
        data="arch_panel", target="return", covariates=("vix",), test_start="2015-01-02"
    )
    assert cfg.models == ("lstm", "lstm+vix", "no_change", "historical_mean", "ar1", "arx+vix")
    with pytest.raises(ConfigError, match="no_change does not; name it without them"):
        PanelEvaluationConfig(
            data="arch_panel",
            target="return",
            models=("lstm", "no_change+vix", "ar1"),
            covariates=("vix",),
            test_start="2015-01-02",
        )


def test_a_return_panel_without_its_reference_is_refused_before_the_walk() -> None:
    from gatecast.errors import ConfigError
    from gatecast.experiment.panel_evaluation import PanelEvaluationConfig

    with pytest.raises(ConfigError, match="reference 'no_change' is not among the models"):
        PanelEvaluationConfig(
            data="arch_panel",
            target="return",
            models=("ar1", "historical_mean"),
            test_start="2015-01-02",
        )

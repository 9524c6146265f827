"""`gatecast evaluate --panel --covariates sp500`: the S&P 500's return and range joined onto each
instrument, the ablation printed and written (ablation.csv, metrics.json), the covariates in the
run's config, and what is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()


@pytest.fixture
def panel_csv(tmp_path: Path, small_panel, long_csv) -> Callable[..., Path]:
    def write(start: str = "2017-09-01", periods: int = 320) -> Path:
        """Two instruments on business days inside the bundled S&P 500's span (1999-2018); BBB
        misses five days."""
        frames = small_panel(
            {"AAA": 1.0, "BBB": 2.0}, periods, start=start, missing={"BBB": (100, 105)}
        )
        path: Path = long_csv(frames, tmp_path / "long.csv")
        return path

    return write


TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "25"]


def _evaluate(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--models", "lstm,gjr_t,har"]
    args += ["--test-start", "2018-09-04", "--out", str(out), *TINY]
    return runner.invoke(app, [*args, *extra])


def test_covariates_on_a_panel_run_end_to_end_with_the_ablation(
    tmp_path: Path, panel_csv: Callable[..., Path]
) -> None:
    csv, out = panel_csv(), tmp_path / "run"
    res = _evaluate(csv, out, "--covariates", "sp500")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "ablation: each model with covariates beside the same model without them" in text
    run = Run.open(out)
    assert run.config["covariates"] == ["sp500"]
    assert list(run.config["models"]) == ["lstm", "lstm+sp500", "gjr_t", "har", "har_x+sp500"]
    table = run.table("per_instrument")
    assert set(table.model) == {"lstm", "lstm+sp500", "gjr_t", "har", "har_x+sp500"}
    ablation = run.table("ablation")
    assert list(ablation.index) == ["lstm+sp500", "har_x+sp500"]
    assert list(ablation["covariates"]) == ["sp500", "sp500"]
    # recomputed from the per-instrument table the run wrote beside it
    for m, row in ablation.iterrows():
        mine, without = table[table.model == m], table[table.model == row["without"]]
        assert row["median_ratio"] == pytest.approx(mine.ratio.median())
        assert row["median_ratio_without"] == pytest.approx(without.ratio.median())
        assert row["in_mcs"] == mine.in_mcs.sum()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["covariates"] == ["sp500"]
    assert [r["model"] for r in metrics["ablation"]] == ["lstm+sp500", "har_x+sp500"]
    fc = run.table("forecasts")
    assert {"lstm+sp500", "har_x+sp500"} <= set(fc.columns)
    assert not np.allclose(fc["har_x+sp500"], fc["har"])  # the index's inputs are read


def test_covariates_with_a_return_target_run_arx_beside_ar1(
    tmp_path: Path, panel_csv: Callable[..., Path]
) -> None:
    csv, out = panel_csv(), tmp_path / "run"
    args = ["evaluate", "--data", str(csv), "--panel", "--target", "return"]
    args += ["--models", "no_change,ar1", "--covariates", "sp500", "--test-start", "2018-09-04"]
    res = runner.invoke(app, [*args, "--refit-every", "25", "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "median over instruments of MSE / no_change's" in text
    run = Run.open(out)
    assert list(run.config["models"]) == ["no_change", "ar1", "arx+sp500"]
    ablation = run.table("ablation")
    assert list(ablation.index) == ["arx+sp500"] and list(ablation["without"]) == ["ar1"]
    table = run.table("per_instrument")
    mine, without = table[table.model == "arx+sp500"], table[table.model == "ar1"]
    ratio = mine.set_index("instrument").mse / without.set_index("instrument").mse
    assert ablation.loc["arx+sp500", "ratio_to_without"] == pytest.approx(ratio.median())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--covariates", "vxx"], "covariate 'vxx' is unknown; choose from vix, nasdaq, sp500"),
        (
            ["--covariates", "sp500", "--models", "lstm+nasdaq,gjr_t"],
            "reads the covariate(s) nasdaq, which --covariates (sp500) does not name",
        ),
        (["--models", "lstm,gjr_t,har_x"], "har_x is HAR with covariates as regressors"),
        (["--features", "log_abs_return"], "--features does not apply to a panel"),
    ],
)
def test_covariate_options_refused_on_a_panel_and_nothing_is_written(
    tmp_path: Path, panel_csv: Callable[..., Path], extra: list[str], message: str, refused
) -> None:
    csv, out = panel_csv(), tmp_path / "run"
    refused(_evaluate(csv, out, *extra), message, out)


def test_a_panel_running_past_the_covariate_is_refused_naming_the_instrument(
    tmp_path: Path,
    panel_csv: Callable[..., Path],
) -> None:
    csv, out = panel_csv(start="2018-03-01", periods=260), tmp_path / "r"
    res = _evaluate(csv, out, "--covariates", "sp500")
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "covariate 'sp500' has no value within 7 days before 2019-01-08" in text
    assert "instrument 'AAA' of" in text and "1999-01-05 .. 2018-12-31" in text
    assert "--test-end / test_end ends every instrument there" in text
    assert not out.exists()


def test_rows_before_the_covariate_are_left_out_as_for_one_series(
    tmp_path: Path, panel_csv: Callable[..., Path]
) -> None:
    """The bundled VIX starts on 2014-01-03: each instrument's rows before it are left out (the
    single-series rule), which leaves too few before this test start, refused by instrument (41: the business days 2014-01-03 .. 2014-02-28)."""
    csv, out = panel_csv(start="2013-06-03"), tmp_path / "run"
    res = _evaluate(csv, out, "--covariates", "vix", "--test-start", "2014-03-03")
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "instrument 'AAA' has 41 rows before the refit on 2014-03-03" in text
    assert not out.exists()

"""`gatecast evaluate` on a panel: a long CSV read with --panel, the panel-evaluate run folder and
Run.open reading it, the options refused by name, nothing left in --out on failure, --resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.experiment.run_reader import Run

runner = CliRunner()


# the tests read `csv`: the two-instrument panel file of tests/cli/conftest.py
TINY = ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "25"]


def _evaluate(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--models", "lstm,gjr_t,har"]
    args += ["--test-start", "2011-01-03", "--out", str(out), *TINY, *extra]
    return runner.invoke(app, args)


def test_a_long_csv_runs_end_to_end_into_a_run_folder_that_run_open_reads(
    tmp_path: Path, csv: Path
) -> None:
    out = tmp_path / "run"
    res = _evaluate(csv, out)
    assert res.exit_code == 0, res.output
    # how the file was read is said, never guessed silently
    assert "panel (--panel)" in res.output
    assert "read as long (instrument column 'ticker')" in res.output
    assert "per instrument: QLIKE ratio to gjr_t" in res.output
    for name in ("per_instrument.csv", "summary.csv", "forecasts.parquet", "folds.csv"):
        assert (out / name).is_file(), name
    assert (out / "plots" / "per_instrument_ratio.png").stat().st_size > 1000
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-evaluate", "finished")
    assert run.command is not None and "--panel" in run.command
    assert set(run.data["instruments"]) == {"AAA", "BBB"}  # type: ignore[index]
    table = run.table("per_instrument")
    assert len(table) == 2 * 3 and set(table.instrument) == {"AAA", "BBB"}
    assert list(table.columns[:4]) == ["instrument", "model", "qlike", "ratio"]
    assert {"dm_ref", "p_ref", "in_mcs"} <= set(table.columns)
    assert (table.loc[table.model == "gjr_t", "ratio"] == 1.0).all()
    summary = run.table()  # the pooled summary, what the command prints first
    assert list(summary.index) == ["lstm", "gjr_t", "har"]
    # the median ratio is the median of the per-instrument ratios
    lstm = table[table.model == "lstm"]
    assert summary.loc["lstm", "median_ratio"] == pytest.approx(lstm.ratio.median())
    fc = run.table("forecasts")
    assert list(fc.columns) == ["instrument", "date", "as_of", "actual", "lstm", "gjr_t", "har"]
    # as_of is the instrument's own previous row: BBB's first date after its gap looks back
    # past the five missing days to its last row, not to AAA's calendar
    prices = pd.read_csv(csv, parse_dates=["date"])
    for name, part in fc.groupby("instrument"):
        own = pd.DatetimeIndex(prices.loc[prices.ticker == name, "date"])
        pos = own.get_indexer(part["date"])
        assert (pos > 0).all()
        assert (own[pos - 1] == pd.DatetimeIndex(part["as_of"])).all()
    # actual: the squared percent return of that instrument on that date
    a = prices[prices.ticker == "AAA"].set_index("date")["close"]
    first = fc[fc.instrument == "AAA"].iloc[0]
    expected = (100 * np.log(a[first["date"]] / a[first["as_of"]])) ** 2
    assert first["actual"] == pytest.approx(expected)
    assert run.json("metrics.json")["reference"] == "gjr_t"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--blocks", "1y"], "--blocks does not apply to a panel"),
        (["--intervals", "0.9"], "--intervals does not apply to a panel"),
        (["--train-size", "200"], "train_size=200 is the length of a rolling training window"),
        (["--target", "direction"], "gjr_t"),  # a variance model: not one of direction's
        (["--models", "lstm_resid,gjr_t"], "'lstm_resid' does not run on a panel yet"),
        (["--models", "gjr_t,har"], "--hidden does not apply to a panel: it sets the recurrent"),
        (["--test-start", "2010-03-01"], "instrument 'AAA' has 41 rows before the refit"),
    ],
)
def test_options_that_do_not_apply_are_refused_by_name_and_nothing_is_written(
    tmp_path: Path, csv: Path, extra: list[str], message: str, refused
) -> None:
    out = tmp_path / "run"
    refused(_evaluate(csv, out, *extra), message, out)


def test_a_failure_during_the_walk_leaves_nothing_in_out(
    tmp_path: Path, csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatecast.errors import ConfigError
    from gatecast.experiment import panel_evaluation

    def failing(*args: object, **kwargs: object) -> None:
        out = Path(str(kwargs["run_dir"]))
        (out / "folds").mkdir(parents=True, exist_ok=True)
        (out / "folds" / "plan.json").write_text("{}")  # something was written already
        raise ConfigError("a refusal found during the walk")

    monkeypatch.setattr(panel_evaluation, "panel_walk_forward", failing)
    out = tmp_path / "run"
    res = _evaluate(csv, out)
    assert res.exit_code == 2 and "a refusal found during the walk" in res.output
    assert not out.exists()


def test_a_long_file_without_panel_points_to_it(tmp_path: Path, csv: Path) -> None:
    res = runner.invoke(app, ["evaluate", "--data", str(csv), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "gatecast evaluate --panel" in " ".join(res.output.split())


def test_resume_after_a_kill_reads_finished_refits_back_and_ends_with_the_same_numbers(
    tmp_path: Path,
    csv: Path,
) -> None:
    out = tmp_path / "run"
    assert _evaluate(csv, out, "--models", "lstm,lstm_local,gjr_t").exit_code == 0
    before = pd.read_csv(out / "per_instrument.csv")
    fc_before = pd.read_parquet(out / "forecasts.parquet")
    # what a kill leaves: the last refits unfinished (a fit's JSON is written last), no results
    (out / "folds" / "lstm" / "fold_0002.json").unlink()
    (out / "instruments" / "0001_BBB" / "folds" / "lstm_local" / "fold_0002.json").unlink()
    for name in ("metrics.json", "per_instrument.csv", "forecasts.parquet"):
        (out / name).unlink()
    res = _evaluate(csv, out, "--models", "lstm,lstm_local,gjr_t", "--resume")
    assert res.exit_code == 0, res.output
    assert "read back from the earlier run" in res.output
    folds = pd.read_csv(out / "folds.csv")
    assert (~folds.resumed).sum() == 2  # the two deleted refits, recomputed
    pd.testing.assert_frame_equal(pd.read_csv(out / "per_instrument.csv"), before)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "forecasts.parquet"), fc_before)
    # another walk in the same folder is refused, not mixed
    res = _evaluate(csv, out, "--models", "lstm,lstm_local,gjr_t", "--resume", "--hidden", "5")
    assert res.exit_code == 2 and "holds folds of a different walk-forward" in res.output


def test_the_report_of_a_panel_run_is_its_own_page_with_numbers_from_its_files(
    tmp_path: Path,
    csv: Path,
) -> None:
    from gatecast.experiment.report import build_report

    out = tmp_path / "run"
    args = ["evaluate", "--data", str(csv), "--panel", "--models", "gjr_t,garch,har,ewma"]
    res = runner.invoke(app, [*args, "--test-start", "2011-01-03", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    report = build_report(out)
    assert report.kind == "panel-evaluate"
    assert "evaluate on a panel" in report.title and "long.csv" in report.title
    # the verdict's numbers, recomputed from the per-instrument file (not from summary.csv)
    table = pd.read_csv(out / "per_instrument.csv")
    rivals = table[table.model != "gjr_t"]
    medians = rivals.groupby("model")["ratio"].median()
    best = str(medians.idxmin())
    mine = rivals[rivals.model == best]
    wins = int(((mine.p_ref < 0.05) & (mine.dm_ref < 0)).sum())
    losses = int(((mine.p_ref < 0.05) & (mine.dm_ref > 0)).sum())
    from gatecast.experiment.registry import label

    assert f"{label(best)}, is {medians[best]:.3f} times it" in report.verdict or (
        f"{label(best)}'s median QLIKE is {medians[best]:.3f} times" in report.verdict
    )
    assert f"better on {wins} instruments, worse on {losses};" in report.verdict
    assert f"for {int(mine.in_mcs.sum())} of 2" in report.verdict
    ratios = report.tables[1].frame
    assert list(ratios.index) == ["AAA", "BBB"]
    for name in ("AAA", "BBB"):
        row = table[(table.instrument == name) & (table.model == best)]
        assert ratios.loc[name, best] == pytest.approx(float(row.ratio.iloc[0]), rel=1e-12)
    assert [p.id for p in report.panels][:1] == ["fig-per-instrument-ratio"]
    assert "--panel" in report.command and "runs/rerun" in report.command

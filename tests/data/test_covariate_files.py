"""Covariates from a file of the user's (``file:PATH:COLUMN[:COLUMN...]``): read with gatecast's
loader, joined by the bundled groups' as-of rule, refused before any fit when the file or a
column is missing, and read by HAR-X only up to each forecast's previous close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data.covariates import (
    covariate_columns,
    covariate_group,
    covariate_values,
    join_covariates,
    known_at_close,
)
from gatecast.errors import ConfigError, DataError
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models

DAYS = pd.bdate_range("2015-01-01", periods=700, name="date")


def _prices() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    r = 0.01 * rng.standard_normal(len(DAYS))
    close = 100 * np.exp(r.cumsum())
    up, down = np.exp(0.01 * np.abs(rng.standard_normal((2, len(DAYS)))))
    return pd.DataFrame(
        {"open": close, "high": close * up, "low": close / down, "close": close}, index=DAYS
    )


def _macro(path: Path, shift: pd.Timestamp | None = None) -> Path:
    """A file of two covariates on every business day (a longer span than the prices); with
    ``shift``, ``Rate`` is moved by 5 on the days after it."""
    days = pd.bdate_range("2014-12-01", periods=760, name="date")
    rng = np.random.default_rng(1)
    rate = rng.standard_normal(len(days)).cumsum() * 0.1
    if shift is not None:
        rate = rate + 5.0 * (days > shift)
    pd.DataFrame(
        {"Date": days.strftime("%Y-%m-%d"), "Rate": rate, "Term Spread": np.abs(rate) + 0.5}
    ).to_csv(path, index=False)
    return path


def test_a_file_group_is_its_named_columns_joined_as_of_each_close(tmp_path: Path) -> None:
    path = _macro(tmp_path / "macro.csv")
    spec = f"file:{path}:Rate:Term Spread"
    group = covariate_group(spec)
    assert group.columns == ("macro_rate", "macro_term_spread") == covariate_columns([spec])
    prices = _prices()
    out, notes = join_covariates(prices, [spec])
    raw = pd.read_csv(path, index_col="Date", parse_dates=True)
    # row t holds the file's value dated t (the file has every business day)
    assert np.allclose(out["macro_rate"], raw.loc[prices.index, "Rate"])
    assert np.allclose(out["macro_term_spread"], raw.loc[prices.index, "Term Spread"])
    # the same rule as the bundled groups: known_at_close on the file's own dates
    values, missing = covariate_values(spec)
    assert missing == 0
    assert np.allclose(out["macro_rate"], known_at_close(prices.index, values)["macro_rate"])
    assert notes == []


def test_a_file_value_after_d_changes_no_row_up_to_d(tmp_path: Path) -> None:
    day = pd.Timestamp("2016-03-15")
    a, _ = join_covariates(_prices(), [f"file:{_macro(tmp_path / 'macro.csv')}:rate"])
    b, _ = join_covariates(_prices(), [f"file:{_macro(tmp_path / 'm2.csv', day)}:rate"])
    up_to = a.index <= day
    assert np.array_equal(a.loc[up_to, "macro_rate"], b.loc[up_to, "m2_rate"])
    assert np.allclose(b.loc[~up_to, "m2_rate"], a.loc[~up_to, "macro_rate"] + 5.0)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("file:nowhere.csv:rate", ConfigError, "no file 'nowhere.csv'"),
        ("file:{p}", ConfigError, "write file:PATH:COLUMN"),
        ("file:{p}:rate:", ConfigError, "write file:PATH:COLUMN"),
        ("file:{p}:rate:yield", DataError, r"has no column\(s\) \['yield'\]; its columns are"),
        ("file:{p}:rate:Rate", ConfigError, "names a column twice"),
        ("file:{p}:rate+spread", ConfigError, "'\\+' separates a model's covariates"),
    ],
)
def test_a_missing_file_or_column_is_refused_naming_it(
    tmp_path: Path, spec: str, error: type[Exception], message: str
) -> None:
    p = _macro(tmp_path / "macro.csv")
    with pytest.raises(error, match=message):
        covariate_group(spec.format(p=p))


def test_a_text_column_and_a_gap_are_refused_naming_file_column_and_date(tmp_path: Path) -> None:
    p = tmp_path / "notes.csv"
    pd.DataFrame({"date": ["2015-01-02", "2015-01-05"], "memo": ["a", "b"], "x": [1, 2]}).to_csv(
        p, index=False
    )
    # gatecast's loader keeps the number columns only: a text column is not among them
    with pytest.raises(
        DataError, match=r"notes.csv has no column\(s\) \['memo'\]; its columns are \['x'\]"
    ):
        covariate_group(f"file:{p}:memo")
    holed = tmp_path / "holed.csv"
    frame = pd.read_csv(_macro(tmp_path / "macro.csv"))
    frame[~frame["Date"].between("2016-03-01", "2016-03-20")].to_csv(holed, index=False)
    with pytest.raises(
        DataError,
        match=r"covariate 'file:.*holed.csv:rate' has no value within 7 days before 2016-03-08",
    ):
        join_covariates(_prices(), [f"file:{holed}:rate"])


def test_an_instrument_covariate_is_refused_on_one_series() -> None:
    assert covariate_group("instrument:SPY").columns == ("spy_return", "spy_log_parkinson")
    with pytest.raises(ConfigError, match="is an instrument of a panel"):
        join_covariates(_prices(), ["instrument:SPY"])


def _har_run(data: Path, spec: str) -> pd.DataFrame:
    cfg = EvaluationConfig(
        data=str(data),
        models=("har",),
        covariates=(spec,),
        test_start="2016-01-04",
        refit_every=60,
        n_jobs=1,
        quiet=True,
        mcs_reps=50,
    )
    res = evaluate_models(cfg)
    assert res.ablation is not None and list(res.ablation["without"]) == ["har"]
    forecasts: pd.DataFrame = res.forecasts
    return forecasts.drop(columns=["actual", "as_of"])


def test_har_x_reads_the_file_and_no_forecast_up_to_d_reads_a_value_after_d(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ablation of ``har`` with a file covariate (``har_x+file:...``); moving the file's
    values dated after D changes no forecast for a date up to D + 1 (made at D's close), and
    changes HAR-X's later ones."""
    monkeypatch.chdir(tmp_path)
    _prices().to_csv("prices.csv")
    day = pd.Timestamp("2016-06-15")
    _macro(tmp_path / "macro.csv")
    base = _har_run(Path("prices.csv"), "file:macro.csv:rate")
    _macro(tmp_path / "macro.csv", day)
    moved = _har_run(Path("prices.csv"), "file:macro.csv:rate")
    x = "har_x+file:macro.csv:rate"
    assert list(base.columns) == ["har", x]
    nxt = base.index[base.index > day][0]
    up_to = base.index <= nxt
    pd.testing.assert_frame_equal(moved[up_to], base[up_to])
    pd.testing.assert_series_equal(moved["har"], base["har"])
    assert not np.allclose(moved.loc[~up_to, x], base.loc[~up_to, x])


def test_the_command_refuses_a_missing_file_or_column_before_any_fit(tmp_path: Path) -> None:
    path = _macro(tmp_path / "macro.csv")
    for spec, message in (
        (f"file:{tmp_path / 'nope.csv'}:rate", "no file"),
        (f"file:{path}:yield,vix", "has no column(s) ['yield']"),
    ):
        res = CliRunner().invoke(
            app, ["evaluate", "--out", str(tmp_path / "r"), "--covariates", spec]
        )
        assert res.exit_code == 2, res.output
        assert message in " ".join(res.output.split())
        assert not (tmp_path / "r").exists()

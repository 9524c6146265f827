"""Prices passed in from Python (a DataFrame, a Series, an Arrow table) are read and checked as a
file is, and a run on them gives the numbers of the same prices read from a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from gatecast.data.sources import data_identity, data_label, load
from gatecast.errors import DuplicateDatesError, MissingDateColumnError, UnsortedDatesError


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load("sp500").loc["2014":"2016"]


def test_a_frame_a_series_and_a_table_read_as_the_parquet_file(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "p.parquet"
    prices.reset_index().rename(columns={"close": "Close", "date": "Date"}).to_parquet(path)
    from_file = load(path)
    before = prices.copy()
    for given in (prices, prices.reset_index(), pa.Table.from_pandas(prices)):
        got = load(given)
        pd.testing.assert_frame_equal(got, from_file)
        assert got.attrs["source"].startswith("the ")
    pd.testing.assert_frame_equal(prices, before)  # the caller's frame is not changed
    series = load(prices["close"].rename("Close"))
    pd.testing.assert_frame_equal(series, from_file[["close"]])
    assert load(prices).attrs["calendar"] == "XNYS"  # kept from the frame gatecast loaded


def test_a_frame_is_refused_as_a_file_would_be(prices: pd.DataFrame) -> None:
    with pytest.raises(UnsortedDatesError, match=r"position 1 \(2016-12-29\) comes after 2016-12"):
        load(prices.iloc[::-1])
    with pytest.raises(DuplicateDatesError, match="appears at positions 2 and 3"):
        load(pd.concat([prices.iloc[:3], prices.iloc[2:5]]))
    with pytest.raises(MissingDateColumnError, match="a Series of prices needs a DatetimeIndex"):
        load(pd.Series([1.0, 2.0]))
    with pytest.raises(MissingDateColumnError, match="has no date column"):
        load(prices.reset_index(drop=True))
    assert load(prices.iloc[::-1], sort=True).index.equals(prices.index)


def test_a_run_names_its_frame_and_records_its_content(prices: pd.DataFrame) -> None:
    assert data_label(prices) == "DataFrame (756 rows, 2014-01-02..2016-12-30)"
    assert data_label("sp500") == "sp500"
    same, moved = data_identity(prices, load(prices)), prices.copy()
    moved.iloc[100, 3] *= 1.0001
    other = data_identity(moved, load(moved))
    assert same["rows"] == 756 and same["first"] == "2014-01-02"
    assert same["sha256"] != other["sha256"]  # one price changed: another identity


def test_evaluate_on_a_frame_gives_the_numbers_of_its_file(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models

    path = tmp_path / "p.parquet"
    prices.to_parquet(path)
    settings = dict(models=("garch", "ewma"), test_start="2016-07-01", n_jobs=1, quiet=True)
    a = evaluate_models(EvaluationConfig(data=prices, **settings))
    b = evaluate_models(EvaluationConfig(data=str(path), **settings))
    pd.testing.assert_frame_equal(a.leaderboard, b.leaderboard)
    out = tmp_path / "run"
    evaluate_models(EvaluationConfig(data=prices, out=str(out), **settings))
    import json

    record = json.loads((out / "run.json").read_text())
    assert record["config"]["data"] == data_label(prices)
    assert record["data"]["sha256"] == data_identity(path, load(path))["sha256"]
    assert np.isfinite(a.leaderboard["qlike"]).all()

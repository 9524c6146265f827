"""Loading prices: bundled datasets, CSV and Parquet files, and an error that names the fix for each bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatecast.data import datasets, load, resolve_column
from gatecast.data.sources import check_finite, normalise_name
from gatecast.errors import (
    DataFileError,
    DateParseError,
    DuplicateDatesError,
    MissingDateColumnError,
    MissingValueError,
    UnknownColumnError,
    UnknownDatasetError,
    UnsortedDatesError,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- files that load -------------------------------------------------------------------------------


def test_csv_headers_are_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "spy.csv",
        "Date,Open,Adj Close,Volume\n2020-01-02,1,1.5,10\n2020-01-03,2,2.5,20\n",
    )
    df = load(path, column="Adj Close")
    assert list(df.columns) == ["open", "adj_close", "volume"]
    assert df.index.name == "date" and isinstance(df.index, pd.DatetimeIndex)
    assert list(df.index) == list(pd.to_datetime(["2020-01-02", "2020-01-03"]))
    np.testing.assert_array_equal(df["adj_close"].to_numpy(), [1.5, 2.5])
    assert df.attrs == {"source": f"file {path}", "dropped": 0}
    assert resolve_column(df, None) == "adj_close"


def test_timestamp_column_with_times(tmp_path: Path) -> None:
    path = write(tmp_path, "bars.csv", "Timestamp,Price\n2020-01-02 10:00,1\n2020-01-02 11:30,2\n")
    df = load(path)
    assert df.index[1] == pd.Timestamp("2020-01-02 11:30")
    assert resolve_column(df, None) == "price"


def test_timezone_aware_dates_keep_their_local_date_and_time(tmp_path: Path) -> None:
    # converting to UTC would move a 00:30+01:00 stamp to the day before
    path = write(
        tmp_path, "tz.csv", "date,close\n2020-01-02T00:30:00+01:00,1\n2020-01-03T09:00:00+01:00,2\n"
    )
    assert load(path).index[0] == pd.Timestamp("2020-01-02 00:30")


@pytest.mark.parametrize("as_index", [False, True])
def test_parquet_round_trip(tmp_path: Path, as_index: bool) -> None:
    dates = pd.bdate_range("2021-06-01", periods=4, name="Date")
    frame = pd.DataFrame(
        {"Close": [1.0, 2.0, 3.0, 4.0], "Volume": [5.0, 6.0, 7.0, 8.0]}, index=dates
    )
    path = tmp_path / "prices.parquet"
    (frame if as_index else frame.reset_index()).to_parquet(path)
    df = load(path, column="close")
    assert list(df.columns) == ["close", "volume"]
    np.testing.assert_array_equal(df.index, dates)
    np.testing.assert_array_equal(df.to_numpy(), frame.to_numpy())


def test_non_numeric_columns_are_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "date,ticker,close\n2020-01-02,SPY,1\n2020-01-03,SPY,2\n")
    assert list(load(path).columns) == ["close"]


# --- bad files ---------------------------------------------------------------------------------------


def test_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(
        DataFileError, match=r"data file .*nope\.csv does not exist; check the path"
    ):
        load(path)


def test_garbage_parquet_is_a_data_file_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"\x00\xffnot parquet at all\x01" * 20)
    with pytest.raises(DataFileError, match=r"cannot read .*broken\.parquet as Parquet"):
        load(path)


def test_garbage_csv_is_a_data_file_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFileError, match=r"broken\.csv"):
        load(path)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"empty\.csv holds no rows"):
        load(write(tmp_path, "empty.csv", "date,close\n"))


def test_no_numeric_column(tmp_path: Path) -> None:
    path = write(tmp_path, "words.csv", "date,ticker\n2020-01-02,SPY\n")
    with pytest.raises(DataFileError, match="no numeric price columns besides 'date'"):
        load(path)


def test_no_date_column_lists_what_was_looked_for(tmp_path: Path) -> None:
    path = write(tmp_path, "nodate.csv", "day,close\n2020-01-02,1\n")
    with pytest.raises(MissingDateColumnError, match="Rename the date column to 'date'") as err:
        load(path)
    msg = str(err.value)
    assert "nodate.csv" in msg and "date, timestamp" in msg and "day, close" in msg
    assert "Rename the date column to 'date'" in msg


def test_unparseable_date_names_the_row_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "date,close\n2020-01-02,1\n2020-01-03,2\n2020-13-45,3\n")
    with pytest.raises(DateParseError, match="row 4") as err:
        load(path)
    msg = str(err.value)
    assert "bad.csv" in msg and "row 4" in msg and "'2020-13-45'" in msg and "ISO dates" in msg


def test_duplicate_dates_name_the_date_and_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path, "dup.csv", "date,close\n2020-01-02,1\n2020-01-03,2\n2020-01-06,3\n2020-01-03,4\n"
    )
    with pytest.raises(DuplicateDatesError, match="2020-01-03 appears on rows 3 and 5") as err:
        load(path, sort=True)  # sorting does not hide duplicates
    msg = str(err.value)
    assert (
        "dup.csv" in msg
        and "2020-01-03 appears on rows 3 and 5" in msg
        and "one row per date" in msg
    )


def test_unsorted_dates_raise_unless_sort(tmp_path: Path) -> None:
    path = write(tmp_path, "unsorted.csv", "date,close\n2020-01-02,1\n2020-01-06,3\n2020-01-03,2\n")
    with pytest.raises(
        UnsortedDatesError, match=r"row 4 \(2020-01-03\) comes after 2020-01-06"
    ) as err:
        load(path)
    msg = str(err.value)
    assert (
        "unsorted.csv" in msg
        and "row 4 (2020-01-03) comes after 2020-01-06" in msg
        and "sort=True" in msg
    )
    df = load(path, sort=True)
    assert df.index.is_monotonic_increasing
    np.testing.assert_array_equal(df["close"].to_numpy(), [1.0, 2.0, 3.0])


def test_nan_or_inf_in_the_used_column_names_the_first_bad_date(tmp_path: Path) -> None:
    text = "date,close,volume\n2020-01-02,1,1\n2020-01-03,,1\n2020-01-06,inf,\n2020-01-07,3,1\n"
    path = write(tmp_path, "gaps.csv", text)
    with pytest.raises(MissingValueError, match="the first on 2020-01-03") as err:
        load(path, column="close")
    msg = str(err.value)
    assert "'close'" in msg and "gaps.csv" in msg and "2 NaN/inf" in msg
    assert "the first on 2020-01-03" in msg and "dropna=True" in msg
    df = load(path, column="close", dropna=True)
    assert df.attrs["dropped"] == 2
    assert list(df.index) == list(pd.to_datetime(["2020-01-02", "2020-01-07"]))
    # an unused column's NaN is not checked
    assert len(load(path)) == 4 and load(path).attrs["dropped"] == 0


def test_check_finite_accumulates_dropped_counts() -> None:
    df = pd.DataFrame({"close": [1.0, np.nan, 2.0]}, index=pd.bdate_range("2020-01-01", periods=3))
    df.attrs["dropped"] = 3
    out = check_finite(df, "close", dropna=True)
    assert out.attrs["dropped"] == 4 and len(out) == 2
    assert check_finite(out, "close") is out


def test_unknown_column_lists_the_available_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "date,open,close\n2020-01-02,1,2\n")
    with pytest.raises(UnknownColumnError, match="available columns: open, close") as err:
        load(path, column="Adj Close")
    msg = str(err.value)
    assert "'Adj Close'" in msg and "p.csv" in msg and "available columns: open, close" in msg


def test_ambiguous_price_column_asks_for_one() -> None:
    df = pd.DataFrame({"a": [1.0], "b": [2.0]})
    with pytest.raises(UnknownColumnError, match=r"among \['a', 'b'\].*pass --column NAME"):
        resolve_column(df, None)


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Adj Close", "adj_close"), ("  Close ", "close"), ("Vol. (M)", "vol_m"), ("DATE", "date")],
)
def test_normalise_name(raw: str, name: str) -> None:
    assert normalise_name(raw) == name


# --- bundled data ----------------------------------------------------------------------------------


def test_unknown_name_lists_the_bundled_datasets() -> None:
    with pytest.raises(UnknownDatasetError, match="sp500, nasdaq, vix, wti") as err:
        load("sp600")
    msg = str(err.value)
    assert "'sp600'" in msg and "sp500, nasdaq, vix, wti" in msg and ".csv or .parquet" in msg


def test_sp500_is_the_arch_series() -> None:
    df = load("SP500", column="adj_close")  # names are case-insensitive
    assert len(df) == 5031
    assert df.index[0] == pd.Timestamp("1999-01-04") and df.index[-1] == pd.Timestamp("2018-12-31")
    assert list(df.columns) == ["open", "high", "low", "close", "adj_close", "volume"]
    assert df.attrs["source"] == "bundled dataset 'sp500'"
    assert df.index.is_monotonic_increasing and not df.index.has_duplicates
    assert (df["high"] >= df["low"]).all()


def test_wti_price_is_renamed_to_close() -> None:
    df = load("wti")
    assert list(df.columns) == ["close"]
    assert resolve_column(df, None) == "close"


def test_datasets_lists_the_four_with_date_ranges() -> None:
    table = datasets()
    assert list(table.index) == ["sp500", "nasdaq", "vix", "wti"]
    sp = table.loc["sp500"]
    assert (sp["start"], sp["end"], sp["rows"]) == ("1999-01-04", "2018-12-31", 5031)
    assert table.loc["vix", "columns"] == "close" and table.loc["wti", "columns"] == "close"
    for name, row in table.iterrows():
        df = load(str(name))
        assert (
            row["start"] == df.index[0].date().isoformat()
            and row["end"] == df.index[-1].date().isoformat()
        )
        assert row["rows"] == len(df) and row["start"] < row["end"]


def test_a_local_file_named_like_a_bundled_dataset_is_never_a_silent_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "vix", "date,close\n2020-01-02,1\n")
    with pytest.raises(DataFileError, match="names both the bundled dataset 'vix' and the file"):
        load("vix")
    df = load("./vix")
    assert len(df) == 1 and df.attrs["source"] == "file vix"
    assert load("bundled:vix").attrs["source"] == "bundled dataset 'vix'"


def test_bundled_dropna_without_column_cleans_the_price_column():
    from gatecast.data import load

    raw = load("wti")
    n_bad = int(raw["close"].isna().sum())
    assert n_bad > 0  # the shipped WTI series has holidays as NaN (e.g. 2016-05-30)
    clean = load("wti", dropna=True)
    assert clean.attrs["dropped"] == n_bad
    assert len(clean) == len(raw) - n_bad and clean["close"].notna().all()

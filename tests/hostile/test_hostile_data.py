"""Data files: each value read as the user meant it, or the file refused by name (via `train`,
before any training and with nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.errors import DataError

from .corpus import TINY, invoke, prices_frame, refused, write_csv

D = pd.Timestamp


def _rows(dates: list[str], values: list[str], header: str = "Date,Close") -> str:
    return header + "\n" + "".join(f"{d},{v}\n" for d, v in zip(dates, values, strict=True))


# name, file text, load() keywords, expected dates, expected close values
PARSED = [
    (
        "thousands separators",
        _rows(["2020-01-02", "2020-01-03", "2020-01-06"], ['"2,511.14"', '"2,520.00"', "999.5"]),
        {},
        ["2020-01-02", "2020-01-03", "2020-01-06"],
        [2511.14, 2520.0, 999.5],
    ),
    (
        "currency sign",
        _rows(["2020-01-02", "2020-01-03"], ["$2511.14", "$2520.00"]),
        {},
        ["2020-01-02", "2020-01-03"],
        [2511.14, 2520.0],
    ),
    (
        "currency and thousands",
        _rows(["2020-01-02", "2020-01-03"], ['"$2,511.14"', '"-$1,000"']),
        {"allow_outliers": True},
        ["2020-01-02", "2020-01-03"],
        [2511.14, -1000.0],
    ),
    (
        "trailing currency sign",
        _rows(["2020-01-02", "2020-01-03"], ["2511.14€", "2520 €"]),
        {},
        ["2020-01-02", "2020-01-03"],
        [2511.14, 2520.0],
    ),
    (
        "spaces around values",
        _rows(["2020-01-02", " 2020-01-03 "], [" 2511.14", "2520.5 "]),
        {},
        ["2020-01-02", "2020-01-03"],
        [2511.14, 2520.5],
    ),
    (
        "byte order mark",
        "\ufeff" + _rows(["2020-01-02", "2020-01-03"], ["1", "2"]),
        {},
        ["2020-01-02", "2020-01-03"],
        [1.0, 2.0],
    ),
    (
        "offset changes with daylight saving",
        _rows(["2020-03-06T09:30:00-05:00", "2020-03-09T09:30:00-04:00"], ["1", "2"]),
        {},
        ["2020-03-06 09:30", "2020-03-09 09:30"],
        [1.0, 2.0],
    ),
    (
        "fixed offset keeps the local date",
        _rows(["2020-01-02T00:30:00+09:00", "2020-01-03T00:30:00+09:00"], ["1", "2"]),
        {},
        ["2020-01-02 00:30", "2020-01-03 00:30"],
        [1.0, 2.0],
    ),
    (
        "UTC Z suffix",
        _rows(["2020-01-02T16:00:00Z", "2020-01-03T16:00:00Z"], ["1", "2"]),
        {},
        ["2020-01-02 16:00", "2020-01-03 16:00"],
        [1.0, 2.0],
    ),
    (
        "day-first detected",
        _rows(["13/01/2020", "14/01/2020", "03/02/2020"], ["1", "2", "3"]),
        {},
        ["2020-01-13", "2020-01-14", "2020-02-03"],
        [1.0, 2.0, 3.0],
    ),
    (
        "month-first detected",
        _rows(["01/13/2020", "01/14/2020", "02/03/2020"], ["1", "2", "3"]),
        {},
        ["2020-01-13", "2020-01-14", "2020-02-03"],
        [1.0, 2.0, 3.0],
    ),
    (
        "dotted day-first",
        _rows(["13.01.2020", "14.01.2020"], ["1", "2"]),
        {},
        ["2020-01-13", "2020-01-14"],
        [1.0, 2.0],
    ),
    (
        "ambiguous dates with dayfirst",
        _rows(["01/02/2020", "02/02/2020"], ["1", "2"]),
        {"dayfirst": True},
        ["2020-02-01", "2020-02-02"],
        [1.0, 2.0],
    ),
    (
        "explicit date format",
        _rows(["02-01-20", "03-01-20"], ["1", "2"]),
        {"date_format": "%d-%m-%y"},
        ["2020-01-02", "2020-01-03"],
        [1.0, 2.0],
    ),
    (
        "YYYYMMDD numbers",
        _rows(["20200102", "20200103"], ["1", "2"]),
        {},
        ["2020-01-02", "2020-01-03"],
        [1.0, 2.0],
    ),
    (
        "month names",
        _rows(['"Jan 2, 2020"', '"Jan 3, 2020"'], ["1", "2"]),
        {},
        ["2020-01-02", "2020-01-03"],
        [1.0, 2.0],
    ),
    (
        "sort never scrambles day-first dates",
        _rows(["14/01/2020", "13/01/2020", "03/02/2020"], ["2", "1", "3"]),
        {"sort": True},
        ["2020-01-13", "2020-01-14", "2020-02-03"],
        [1.0, 2.0, 3.0],
    ),
    (
        "a ticker column beside the price",
        _rows(["2020-01-02", "2020-01-03"], ["SPY,1", "SPY,2"], header="date,ticker,close"),
        {},
        ["2020-01-02", "2020-01-03"],
        [1.0, 2.0],
    ),
    (
        "n/a cells dropped on request",
        _rows(["2020-01-02", "2020-01-03", "2020-01-06"], ["1", "n/a", "3"]),
        {"dropna": True},
        ["2020-01-02", "2020-01-06"],
        [1.0, 3.0],
    ),
    (
        "negative price kept on request",
        _rows(["2020-01-02", "2020-01-03"], ["18.3", "-37.6"]),
        {"allow_outliers": True},
        ["2020-01-02", "2020-01-03"],
        [18.3, -37.6],
    ),
]


@pytest.mark.parametrize(
    "text, kwargs, dates, values", [c[1:] for c in PARSED], ids=[c[0] for c in PARSED]
)
def test_values_are_read_as_meant(tmp_path: Path, text, kwargs, dates, values) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    df = load(path, column="close", **kwargs)
    assert list(df.index) == [D(d) for d in dates]
    np.testing.assert_array_equal(df["close"].to_numpy(), values)


def test_outliers_kept_on_request_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(_rows(["2020-01-02", "2020-01-03"], ["18.3", "-37.6"]))
    assert load(path, column="close", allow_outliers=True).attrs["outliers"] == [
        ["2020-01-03", -37.6]
    ]


def test_a_tz_aware_parquet_keeps_its_local_dates(tmp_path: Path) -> None:
    stamps = pd.DatetimeIndex(["2020-03-06 16:00", "2020-03-09 16:00"]).tz_localize(
        "America/New_York"
    )  # UTC offsets -5 then -4
    pd.DataFrame({"Date": stamps, "Close": [1.0, 2.0]}).to_parquet(tmp_path / "p.parquet")
    df = load(tmp_path / "p.parquet", column="close")
    assert list(df.index) == [D("2020-03-06 16:00"), D("2020-03-09 16:00")]


def test_a_folder_named_like_a_dataset_does_not_hide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sp500").mkdir()  # e.g. a run folder: `train --out sp500`
    assert load("sp500").attrs["source"] == "bundled dataset 'sp500'"


# name, file text, extra train options, phrases of the one message
REFUSED = [
    (
        "decimal commas",
        _rows(["2020-01-02", "2020-01-03"], ['"2511,14"', '"2520,00"'], "Date,Close,Volume")
        .replace('"2511,14"', '"2511,14",100')
        .replace('"2520,00"', '"2520,00",200'),
        [],
        ["column 'close'", "holds text such as '2511,14'"],
    ),
    (
        "text close is never replaced by volume",
        "Date,Close,Volume\n2020-01-02,abc,100\n2020-01-03,def,200\n",
        [],
        ["column 'close'", "holds text such as 'abc'"],
    ),
    (
        "text in the asked column",
        "Date,Open,Close\n2020-01-02,1,x1\n2020-01-03,2,x2\n",
        ["--column", "close"],
        ["column 'close'", "holds text such as 'x1'"],
    ),
    (
        "a lone volume column is not a price",
        "Date,Volume\n2020-01-02,100\n2020-01-03,200\n",
        [],
        ["cannot tell which column holds the price", "--column"],
    ),
    (
        "columns that collide by case",
        "Date,Close,CLOSE\n2020-01-02,1,2\n",
        [],
        ["two columns that both mean 'close'", "'Close' and 'CLOSE'"],
    ),
    (
        "a repeated header",
        "Date,Close,Close\n2020-01-02,1,2\n",
        [],
        ["two columns that both mean 'close'", "'Close' and 'Close'"],
    ),
    (
        "columns that collide by punctuation",
        "Date,Adj Close,adj_close\n2020-01-02,1,2\n",
        [],
        ["two columns that both mean 'adj_close'", "'Adj Close' and 'adj_close'"],
    ),
    (
        "dates that read both ways",
        _rows(["01/02/2020", "02/02/2020", "03/02/2020"], ["1", "2", "3"]),
        [],
        ["read as day/month/year and as month/day/year", "--dayfirst", "--date-format"],
    ),
    (
        "day-first and month-first in one file",
        _rows(["13/01/2020", "01/14/2020"], ["1", "2"]),
        [],
        ["'13/01/2020' (row 2) reads day-first", "one file needs one date format"],
    ),
    (
        "two-digit years",
        _rows(["01/02/20", "01/03/20"], ["1", "2"]),
        [],
        ["'01/02/20'", "two-digit year"],
    ),
    (
        "small integers as dates",
        _rows(["1", "2", "3"], ["1", "2", "3"]),
        [],
        ["row 2: 1 is a number, not a date", "nanoseconds since 1970"],
    ),
    (
        "dayfirst on a month-first file",
        _rows(["01/13/2020", "01/14/2020"], ["1", "2"]),
        ["--dayfirst"],
        ["row 2: cannot parse '01/13/2020' as a day/month/year date"],
    ),
    (
        "a date format that does not fit",
        _rows(["2020-01-02", "2020-01-03"], ["1", "2"]),
        ["--date-format", "%d/%m/%Y"],
        ["cannot parse '2020-01-02' as the format '%d/%m/%Y'"],
    ),
    (
        "an impossible ISO date",
        _rows(["2020-01-02", "2020-13-45"], ["1", "2"]),
        [],
        ["row 3: cannot parse '2020-13-45'"],
    ),
    (
        "mixed ISO and slashed dates",
        _rows(["2020-01-02", "01/03/2020"], ["1", "2"]),
        [],
        ["row 3: cannot parse '01/03/2020'"],
    ),
    (
        "an unquoted thousands separator",
        "Date,Close\n2020-01-02,2,511.14\n2020-01-03,2,520.00\n",
        [],
        ["row 2: 3 fields, the header has 2", "thousands separator"],
    ),
    (
        "a word in the prices",
        _rows(["2020-01-02", "2020-01-03", "2020-01-06"], ["1", "oops", "3"]),
        [],
        ["'oops' on 2020-01-03 is not a number", "--dropna"],
    ),
    (
        "an empty file",
        "",
        [],
        ["cannot read"],
    ),
    (
        "a header and no rows",
        "Date,Close\n",
        [],
        ["holds no rows"],
    ),
]


@pytest.mark.parametrize(
    "text, options, phrases", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_train_refuses_a_hostile_file_by_name(tmp_path: Path, text, options, phrases) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    result = invoke(["train", "--data", path, "--out", out, *options, *TINY])
    refused(result, *phrases, out=out)
    assert [p.name for p in tmp_path.iterdir()] == ["prices.csv"]  # no temporary folder either


def _with(values: dict[int, float], n: int = 60) -> pd.DataFrame:
    frame = prices_frame(n)
    for i, v in values.items():
        frame.loc[i, "close"] = v
    return frame


# name, frame edits, extra train options, phrases
ABSURD = [
    ("a price of 1e300", {30: 1e300}, [], ["is 1e+300 on 2019-02-12", "--allow-outliers"]),
    ("a subnormal price", {30: 1e-320}, [], ["on 2019-02-12", "times the median"]),
    ("a price 10000x too large", {10: 1e6}, [], ["is 1e+06 on 2019-01-15"]),
    ("a negative price", {20: -5.0}, ["--simple"], ["is -5 on 2019-01-29", "positive prices"]),
    ("a zero price", {20: 0.0}, ["--target", "price"], ["is 0 on 2019-01-29"]),
]


@pytest.mark.parametrize(
    "edits, options, phrases", [c[1:] for c in ABSURD], ids=[c[0] for c in ABSURD]
)
def test_train_refuses_absurd_prices_with_their_date(
    tmp_path: Path, edits, options, phrases
) -> None:
    path = write_csv(tmp_path / "p.csv", _with(edits))
    out = tmp_path / "run"
    refused(invoke(["train", "--data", path, "--out", out, *options, *TINY]), *phrases, out=out)


def test_unreadable_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Date,Clôture\n2020-01-02,1\n".encode("latin-1"))
    out = tmp_path / "run"
    refused(invoke(["train", "--data", path, "--out", out, *TINY]), "cannot read", out=out)


def test_a_folder_given_as_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").mkdir()
    out = tmp_path / "run"
    refused(
        invoke(["train", "--data", tmp_path / "prices.csv", "--out", out, *TINY]),
        "is a folder, not a data file",
        out=out,
    )


def test_a_file_named_like_a_dataset_is_ambiguous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "sp500", prices_frame(40))
    refused(
        invoke(["train", "--data", "sp500", "--out", tmp_path / "run", *TINY]),
        "names both the bundled dataset 'sp500' and the file",
        "bundled:sp500",
        out=tmp_path / "run",
    )
    assert len(load("./sp500")) == 40 and len(load("bundled:sp500")) == 5031


def test_an_unknown_bundled_name_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    refused(
        invoke(["train", "--data", "bundled:sp600", "--out", out, *TINY]),
        "there is no bundled dataset 'sp600'",
        out=out,
    )


def test_load_raises_data_errors_only(tmp_path: Path) -> None:
    # the library refuses the same files with the same classes the CLI turns into exit 2
    path = tmp_path / "p.csv"
    path.write_text(_rows(["01/02/2020", "02/02/2020"], ["1", "2"]))
    with pytest.raises(DataError, match="--dayfirst"):
        load(path)

"""Where prices come from: bundled real data (through `arch.data`, no network) and CSV/Parquet files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.typing import NaTType

from gatecast.errors import (
    ConfigError,
    DataFileError,
    DateParseError,
    DuplicateDatesError,
    MissingDateColumnError,
    MissingValueError,
    UnknownColumnError,
    UnknownDatasetError,
    UnsortedDatesError,
)

DATE_COLUMNS = ("date", "timestamp", "datetime", "time")
PRICE_PREFERENCE = ("adj_close", "close", "price", "value")


@dataclass(frozen=True)
class BundledDataset:
    """A real dataset that ships inside an installed package."""

    name: str
    module: str
    description: str
    rename: dict[str, str]


BUNDLED: dict[str, BundledDataset] = {
    "sp500": BundledDataset("sp500", "arch.data.sp500", "S&P 500 index, daily OHLCV", {}),
    "nasdaq": BundledDataset("nasdaq", "arch.data.nasdaq", "NASDAQ Composite, daily OHLCV", {}),
    "vix": BundledDataset("vix", "arch.data.vix", "CBOE VIX index, daily close", {"vix": "close"}),
    "wti": BundledDataset(
        "wti", "arch.data.wti", "WTI crude oil spot price, daily", {"dcoilwtico": "close"}
    ),
}


def normalise_name(name: object) -> str:
    """`Adj Close` -> `adj_close`: lower case, runs of non-alphanumerics become one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def load(
    source: str | os.PathLike[str],
    *,
    column: str | None = None,
    sort: bool = False,
    dropna: bool = False,
) -> pd.DataFrame:
    """Load prices as a DataFrame with a sorted DatetimeIndex named ``date`` and normalised columns.

    Parameters
    ----------
    source
        A bundled name (``sp500``, ``nasdaq``, ``vix``, ``wti``; see :func:`datasets`) or the path of
        a ``.csv`` / ``.parquet`` file with a date column (``date``, ``Date``, ``timestamp``, ...).
    column
        If given, checked to exist (after normalisation, so ``"Adj Close"`` means ``adj_close``) and
        checked for NaN/inf values.
    sort
        Sort unsorted dates instead of raising :class:`UnsortedDatesError`.
    dropna
        Drop rows whose ``column`` (default: the preferred price column) is NaN/inf (the count is reported through ``df.attrs["dropped"]``)
        instead of raising :class:`MissingValueError`.

    Returns
    -------
    DataFrame with numeric columns named ``open, high, low, close, adj_close, volume`` (as present).
    ``df.attrs["source"]`` records where the data came from.
    """
    key = str(source)
    path = Path(key)
    if key.lower() in BUNDLED and not path.exists():
        df = _load_bundled(BUNDLED[key.lower()])
        where = f"bundled dataset {key.lower()!r}"
    elif path.suffix.lower() in (".csv", ".parquet", ".pq", ".txt") or path.exists():
        df = _load_file(path, sort=sort)
        where = f"file {path}"
    else:
        raise UnknownDatasetError(
            f"{key!r} is neither a bundled dataset nor an existing file. Bundled datasets: "
            f"{', '.join(BUNDLED)}; or pass the path of a .csv or .parquet file."
        )
    df.attrs["source"] = where
    df.attrs["dropped"] = 0
    if column is not None or dropna:
        # with dropna and no column, the default price column is the one cleaned
        col = resolve_column(df, column)
        df = check_finite(df, col, dropna=dropna)
    return df


def datasets() -> pd.DataFrame:
    """The bundled datasets with their date ranges, row counts and columns."""
    rows = []
    for ds in BUNDLED.values():
        df = _load_bundled(ds)
        rows.append(
            {
                "name": ds.name,
                "description": ds.description,
                "start": df.index[0].date().isoformat(),
                "end": df.index[-1].date().isoformat(),
                "rows": len(df),
                "columns": ", ".join(df.columns),
            }
        )
    table: pd.DataFrame = pd.DataFrame(rows).set_index("name")
    return table


def parse_date(value: object, what: str = "date") -> pd.Timestamp:
    """``value`` as a Timestamp, or a :class:`ConfigError` naming ``what`` (e.g. ``--test-start``)."""
    try:
        ts: pd.Timestamp | NaTType = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{what} {value!r} is not a date; use YYYY-MM-DD, e.g. 2015-01-02"
        ) from exc
    if isinstance(ts, NaTType):  # NaT is the only NaTType instance
        raise ConfigError(f"{what} is empty; use YYYY-MM-DD, e.g. 2015-01-02")
    return ts


def resolve_column(df: pd.DataFrame, column: str | None) -> str:
    """The normalised name of ``column`` in ``df``; with None, the preferred price column."""
    if column is None:
        for name in PRICE_PREFERENCE:
            if name in df.columns:
                return name
        if len(df.columns) == 1:
            return str(df.columns[0])
        raise UnknownColumnError(
            f"cannot tell which column holds the price among {list(df.columns)} in "
            f"{df.attrs.get('source', 'the data')}; pass --column NAME"
        )
    name = normalise_name(column)
    if name not in df.columns:
        raise UnknownColumnError(
            f"column {column!r} is not in {df.attrs.get('source', 'the data')}; available columns: "
            f"{', '.join(map(str, df.columns))} (names are case-insensitive, 'Adj Close' = adj_close)"
        )
    return name


def check_finite(df: pd.DataFrame, column: str, *, dropna: bool = False) -> pd.DataFrame:
    """Raise on NaN/inf in ``column`` naming the first bad date, or drop those rows when ``dropna``."""
    values = df[column].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return df
    if dropna:
        out: pd.DataFrame = df.loc[~bad].copy()
        out.attrs.update(df.attrs)
        out.attrs["dropped"] = int(df.attrs.get("dropped", 0)) + int(bad.sum())
        return out
    first = df.index[int(np.argmax(bad))]
    raise MissingValueError(
        f"column {column!r} of {df.attrs.get('source', 'the data')} has {int(bad.sum())} NaN/inf "
        f"value(s), the first on {_fmt_date(first)}; clean the data or pass dropna=True "
        f"(--dropna) to drop those rows"
    )


def _fmt_date(ts: object) -> str:
    if isinstance(ts, pd.Timestamp):
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    return str(ts)


def _load_bundled(ds: BundledDataset) -> pd.DataFrame:
    import importlib

    module = importlib.import_module(ds.module)
    raw = module.load()
    df: pd.DataFrame = raw.copy()
    df.columns = [normalise_name(c) for c in df.columns]
    df = df.rename(columns=ds.rename)
    df.index = pd.DatetimeIndex(pd.to_datetime(df.index), name="date")
    out: pd.DataFrame = df.sort_index().astype(float)
    return out


def _load_file(path: Path, *, sort: bool) -> pd.DataFrame:
    if not path.exists():
        raise DataFileError(f"data file {path} does not exist; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            raw = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFileError(
            f"cannot read {path} as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'}: {exc}"
        ) from exc
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataFileError(f"cannot read {path}: {exc}") from exc
    if raw.empty:
        raise DataFileError(f"{path} holds no rows")
    raw.columns = [normalise_name(c) for c in raw.columns]
    if raw.index.name is not None and normalise_name(raw.index.name) in DATE_COLUMNS:
        raw = raw.reset_index()
        raw.columns = [normalise_name(c) for c in raw.columns]
    date_col = next((c for c in DATE_COLUMNS if c in raw.columns), None)
    if date_col is None:
        raise MissingDateColumnError(
            f"{path} has no date column (looked for {', '.join(DATE_COLUMNS)}, any case); "
            f"its columns are {', '.join(map(str, raw.columns))}. Rename the date column to 'date'."
        )
    dates = _parse_dates(raw[date_col], path, date_col)
    df = raw.drop(columns=[date_col])
    df.index = pd.DatetimeIndex(dates, name="date")
    dup = df.index.duplicated(keep=False)
    if dup.any():
        first = df.index[int(np.argmax(dup))]
        rows = np.flatnonzero(df.index == first)[:2] + 2  # +1 header, +1 one-based
        raise DuplicateDatesError(
            f"{path} has {int(df.index.duplicated().sum())} duplicate date(s); {_fmt_date(first)} "
            f"appears on rows {rows[0]} and {rows[1]}. Keep one row per date."
        )
    if not df.index.is_monotonic_increasing:
        if not sort:
            pos = int(np.argmax(np.diff(df.index.asi8) < 0)) + 1
            raise UnsortedDatesError(
                f"{path} is not sorted by date: row {pos + 2} ({_fmt_date(df.index[pos])}) comes "
                f"after {_fmt_date(df.index[pos - 1])}. Sort the file, or pass sort=True (--sort)."
            )
        df = df.sort_index()
    numeric = {}
    for c in df.columns:
        col = pd.to_numeric(df[c], errors="coerce")
        if col.notna().any() or df[c].isna().all():
            numeric[c] = col.astype(float)
    out: pd.DataFrame = pd.DataFrame(numeric, index=df.index)
    if out.columns.empty:
        raise DataFileError(f"{path} has no numeric price columns besides {date_col!r}")
    return out


def _parse_dates(col: pd.Series, path: Path, name: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = pd.to_datetime(col)
    else:
        parsed = pd.to_datetime(col, errors="coerce", utc=False, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DateParseError(
            f"{path}, column {name!r}, row {row + 2}: cannot parse {col.iloc[row]!r} as a date "
            f"({int(bad.sum())} bad value(s)); use ISO dates such as 2015-01-02"
        )
    idx: pd.DatetimeIndex = pd.DatetimeIndex(parsed)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx

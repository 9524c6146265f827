"""Where prices come from: bundled real data (through `arch.data`, no network) and CSV/Parquet files."""

from __future__ import annotations

import csv
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.typing import NaTType

from gatecast.data.parsing import _numbers as _numbers
from gatecast.data.parsing import first_repeat
from gatecast.data.parsing import parse_dates as parse_dates
from gatecast.errors import (
    ConfigError,
    DataFileError,
    DuplicateDatesError,
    MissingDateColumnError,
    MissingValueError,
    NonPositivePriceError,
    OutlierError,
    UnknownColumnError,
    UnknownDatasetError,
    UnsortedDatesError,
)

DATE_COLUMNS = ("date", "timestamp", "datetime", "time")
PRICE_PREFERENCE = ("adj_close", "close", "price", "value")
#: Text columns that never hold a price (a lone numeric column beside them is the price).
IDENTIFIERS = ("symbol", "ticker", "name", "exchange", "currency", "isin")
#: Columns that name the instrument of each row of a long panel (see ``gatecast.load_panel``).
INSTRUMENT_COLUMNS = ("instrument", "unique_id", "ticker", "symbol", "asset")
#: Prefix that always means a bundled dataset, even where a local file has the same name.
BUNDLED_PREFIX = "bundled:"
#: A value this many times above (or below) the median of its neighbours is refused as absurd.
OUTLIER_RATIO = 1e3
#: Neighbours (centred) whose median an outlier is measured against.
OUTLIER_SPAN = 21


@dataclass(frozen=True)
class BundledDataset:
    """A real dataset that ships inside an installed package."""

    name: str
    module: str
    description: str
    rename: dict[str, str]
    #: The trading calendar its dates follow (``df.attrs["calendar"]``): an exchange code, or
    #: ``data`` for the data's own (WTI spot is assessed on days of its own, not a session).
    calendar: str = "data"


BUNDLED: dict[str, BundledDataset] = {
    "sp500": BundledDataset("sp500", "arch.data.sp500", "S&P 500 index, daily OHLCV", {}, "XNYS"),
    "nasdaq": BundledDataset(
        "nasdaq", "arch.data.nasdaq", "NASDAQ Composite, daily OHLCV", {}, "XNYS"
    ),
    "vix": BundledDataset(
        "vix", "arch.data.vix", "CBOE VIX index, daily close", {"vix": "close"}, "XNYS"
    ),
    "wti": BundledDataset(
        "wti", "arch.data.wti", "WTI crude oil spot price, daily", {"dcoilwtico": "close"}
    ),
}


def normalise_name(name: object) -> str:
    """`Adj Close` -> `adj_close`: lower case, runs of non-alphanumerics become one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


#: What prices may come from: a bundled name or a file path, or the prices themselves (a pandas
#: DataFrame or Series, a pyarrow Table).
DataSource = str | os.PathLike[str] | pd.DataFrame | pd.Series | Any


def is_frame(source: object) -> bool:
    """Whether ``source`` holds the prices themselves (a DataFrame, a Series or an Arrow table)
    rather than naming where they are."""
    return isinstance(source, pd.DataFrame | pd.Series) or hasattr(source, "to_pandas")


def data_label(source: DataSource) -> str:
    """How a run names its data: the bundled name or the path as given; for prices passed in,
    "DataFrame (1006 rows, 2015-01-02..2018-12-31)"."""
    if not is_frame(source):
        return str(os.fspath(source))  # type: ignore[arg-type]
    given: Any = source
    frame: Any = given.to_pandas() if hasattr(given, "to_pandas") else given
    kind = type(source).__name__
    index = frame.index
    span = ""
    if isinstance(index, pd.DatetimeIndex) and len(index):
        span = f", {_fmt_date(index[0])}..{_fmt_date(index[-1])}"
    return f"{kind} ({len(frame)} rows{span})"


def is_frame_label(text: object) -> bool:
    """Whether ``text`` is what :func:`data_label` calls prices that were passed in (a run made
    on them records this label, not the prices: they cannot be read back from it)."""
    return (
        isinstance(text, str) and re.match(r"(DataFrame|Series|Table) \(\d+ rows", text) is not None
    )


def data_identity(source: DataSource, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """What a run records of its data: its label, and (with the loaded ``frame``) the first and
    last date, the row count and a SHA-256 of the values and dates, so that a rerun on other
    data is told apart from one on the same data."""
    from gatecast.artifacts import array_hash

    out: dict[str, Any] = {"source": data_label(source)}
    if frame is not None:
        out |= {
            "first": _fmt_date(frame.index[0]) if len(frame) else None,
            "last": _fmt_date(frame.index[-1]) if len(frame) else None,
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
            "sha256": array_hash(
                frame.to_numpy(dtype=float), np.asarray(frame.index.astype("int64"))
            ),
        }
    return out


def load(
    source: DataSource,
    *,
    column: str | None = None,
    sort: bool = False,
    dropna: bool = False,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    allow_outliers: bool = False,
) -> pd.DataFrame:
    """Load prices as a DataFrame with a sorted DatetimeIndex named ``date`` and normalised columns.

    Parameters
    ----------
    source
        A bundled name (``sp500``, ``nasdaq``, ``vix``, ``wti``; see :func:`datasets`), the same
        with a ``bundled:`` prefix (``bundled:sp500``, never a local file), or the path of a
        ``.csv`` / ``.parquet`` file with a date column (``date``, ``Date``, ``timestamp``, ...).
        A bare bundled name that is also a file here is refused as ambiguous. Or the prices
        themselves: a DataFrame with a DatetimeIndex or a date column, a Series of prices with a
        DatetimeIndex (its name, else ``close``, is the column), or a pyarrow Table; read and
        checked exactly as a file is (column names, numbers, dates sorted and unique), never
        changed in place.
    column
        If given, checked to exist (after normalisation, so ``"Adj Close"`` means ``adj_close``),
        checked for NaN/inf values and for absurd prices (see :func:`check_prices`).
    sort
        Sort unsorted dates instead of raising :class:`UnsortedDatesError`.
    dropna
        Drop rows whose ``column`` (default: the preferred price column) is NaN/inf (the count is reported through ``df.attrs["dropped"]``)
        instead of raising :class:`MissingValueError`.
    dayfirst
        Read ``01/02/2020`` as 1 February (True) or 2 January (False). None: detected from
        the file (a day above 12 decides); a file that could be read both ways is refused.
    date_format
        An explicit ``strftime`` format of the date column, e.g. ``"%d.%m.%Y"``.
    allow_outliers
        Keep non-positive prices and prices more than 1000x away from the median of their
        neighbours (listed in ``df.attrs["outliers"]``) instead of raising.

    Returns
    -------
    DataFrame with numeric columns named ``open, high, low, close, adj_close, volume`` (as present).
    ``df.attrs["source"]`` records where the data came from; ``df.attrs["calendar"]`` the
    exchange whose sessions a bundled series follows (XNYS for sp500, nasdaq and vix).
    """
    if is_frame(source):
        where = f"the {data_label(source)}"
        df = _frame(
            _raw_frame(source), where, sort=sort, dayfirst=dayfirst, date_format=date_format
        )
        calendar = getattr(source, "attrs", {}).get("calendar")
        if calendar:  # e.g. a frame gatecast loaded
            df.attrs["calendar"] = calendar
    else:
        bundled, path = _resolve_source(str(os.fspath(source)))  # type: ignore[arg-type]
        if bundled is not None:
            df = _load_bundled(BUNDLED[bundled])
            where = f"bundled dataset {bundled!r}"
            df.attrs["calendar"] = BUNDLED[bundled].calendar
        else:
            df = _load_file(path, sort=sort, dayfirst=dayfirst, date_format=date_format)
            where = f"file {path}"
    df.attrs["source"] = where
    df.attrs["dropped"] = 0
    if column is not None or dropna:
        # with dropna and no column, the default price column is the one cleaned
        col = resolve_column(df, column)
        df = check_finite(df, col, dropna=dropna)
        df = check_prices(df, col, allow_outliers=allow_outliers)
    return df


def _resolve_source(key: str) -> tuple[str | None, Path]:
    """(bundled name, None-path) or (None, file path) for a ``--data`` value."""
    if key.lower().startswith(BUNDLED_PREFIX):
        name = key[len(BUNDLED_PREFIX) :].strip().lower()
        if name not in BUNDLED:
            raise UnknownDatasetError(
                f"{key!r}: there is no bundled dataset {name!r}; bundled datasets: "
                f"{', '.join(BUNDLED)}"
            )
        return name, Path()
    path = Path(key)
    if key.lower() in BUNDLED:
        if path.is_file():
            raise DataFileError(
                f"{key!r} names both the bundled dataset {key.lower()!r} and the file "
                f"{path.resolve()}; pass {BUNDLED_PREFIX}{key.lower()} for the bundled data or "
                f"./{key} for the file"
            )
        return key.lower(), Path()  # a folder of that name (e.g. a run folder) is not data
    if path.suffix.lower() in (".csv", ".parquet", ".pq", ".txt") or path.exists():
        return None, path
    raise UnknownDatasetError(
        f"{key!r} is neither a bundled dataset nor an existing file. Bundled datasets: "
        f"{', '.join(BUNDLED)}; or pass the path of a .csv or .parquet file."
    )


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
    """The normalised name of ``column`` in ``df``; with None, the preferred price column.

    A column that holds text rather than numbers (see ``df.attrs["text_columns"]``) is refused by
    name with an example value, never passed over in favour of another column.
    """
    text: dict[str, str] = df.attrs.get("text_columns", {})
    where = df.attrs.get("source", "the data")
    if column is None:
        for name in PRICE_PREFERENCE:
            if name in df.columns:
                return name
            if name in text:
                raise _text_column(name, text[name], where)
        numeric = [c for c in df.columns if c != "volume"]
        if len(df.columns) == 1 and len(numeric) == 1 and set(text) <= set(IDENTIFIERS):
            return str(df.columns[0])
        also = f" (and text in {', '.join(map(repr, text))})" if text else ""
        raise UnknownColumnError(
            f"cannot tell which column holds the price among {list(df.columns)}{also} in "
            f"{where}; pass --column NAME"
        )
    name = normalise_name(column)
    if name in text:
        raise _text_column(name, text[name], where)
    if name not in df.columns:
        raise UnknownColumnError(
            f"column {column!r} is not in {where}; available columns: "
            f"{', '.join(map(str, df.columns))} (names are case-insensitive, 'Adj Close' = adj_close)"
        )
    return name


def _text_column(name: str, example: str, where: str) -> DataFileError:
    return DataFileError(
        f"column {name!r} of {where} holds text such as {example!r}, not numbers; write plain "
        f"numbers such as 2511.14 (gatecast reads 2,511.14 and $2511.14, not decimal commas "
        f"or units) or pass --column for another column"
    )


def check_finite(df: pd.DataFrame, column: str, *, dropna: bool = False) -> pd.DataFrame:
    """Raise on NaN/inf in ``column`` naming the first bad date, or drop those rows when ``dropna``.

    A cell that held text which is not a number (``n/a``, ``oops``) counts as missing, and the
    message quotes it.
    """
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
    text = df.attrs.get("bad_values", {}).get(column)
    quoted = f"; {text[1]!r} on {text[0]} is not a number" if text else ""
    raise MissingValueError(
        f"column {column!r} of {df.attrs.get('source', 'the data')} has {int(bad.sum())} NaN/inf "
        f"value(s), the first on {_fmt_date(first)}{quoted}; clean the data or pass dropna=True "
        f"(--dropna) to drop those rows"
    )


def check_prices(df: pd.DataFrame, column: str, *, allow_outliers: bool = False) -> pd.DataFrame:
    """Refuse absurd prices in ``column``, naming the date: a zero or negative price (no return
    can be taken from it), one more than :data:`OUTLIER_RATIO` times away from the median of
    its :data:`OUTLIER_SPAN` neighbours (a typo, a corrupt cell), or a jump of that size from
    one row to the next (a unit change from then on).

    With ``allow_outliers`` they are kept and listed in ``df.attrs["outliers"]`` (date, value),
    which the run folders record. NaN/inf are :func:`check_finite`'s business and pass here.
    """
    values = df[column].to_numpy(dtype=float)
    finite = np.isfinite(values)
    non_positive = finite & (values <= 0)
    level = pd.Series(np.where(finite & ~non_positive, values, np.nan))
    median = level.rolling(OUTLIER_SPAN, center=True, min_periods=1).median().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = values / median
        step = level.to_numpy() / level.ffill().shift(1).to_numpy()
    far = finite & ~non_positive & ((ratio > OUTLIER_RATIO) | (ratio < 1 / OUTLIER_RATIO))
    # a jump counts where it is not the edge of a lone outlier already found
    jump = (step > OUTLIER_RATIO) | (step < 1 / OUTLIER_RATIO)
    jump &= ~far & ~np.concatenate([[False], far[:-1]])
    far |= jump
    bad = non_positive | far
    if not bad.any():
        return df
    where = df.attrs.get("source", "the data")
    if allow_outliers:
        out: pd.DataFrame = df.copy()
        out.attrs.update(df.attrs)
        found = [[_fmt_date(d), float(v)] for d, v in zip(df.index[bad], values[bad], strict=True)]
        out.attrs["outliers"] = list(df.attrs.get("outliers", [])) + found
        return out
    i = int(np.argmax(bad))
    day, value = _fmt_date(df.index[i]), values[i]
    if non_positive[i]:
        raise NonPositivePriceError(
            f"column {column!r} of {where} is {value:g} on {day} ({int(non_positive.sum())} "
            f"non-positive value(s)); returns need positive prices: fix the data, or pass "
            f"allow_outliers=True (--allow-outliers) to keep them (recorded in the run's files)"
        )
    raise OutlierError(
        f"column {column!r} of {where} is {value:g} on {day}, {ratio[i]:.3g} times the median "
        f"of its neighbours ({median[i]:g}; {int(far.sum())} such value(s)): a typo or a unit "
        f"change? fix the data, or pass allow_outliers=True (--allow-outliers) to keep them "
        f"(recorded in the run's files)"
    )


def _fmt_date(ts: object) -> str:
    if isinstance(ts, pd.Timestamp):
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    return str(ts)


def _first_out_of_order(dates: pd.DatetimeIndex) -> int | None:
    """The position of the first date earlier than the one before it; None when sorted."""
    if dates.is_monotonic_increasing:
        return None
    return int(np.argmax(np.diff(dates.asi8) < 0)) + 1


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


def _load_file(
    path: Path, *, sort: bool, dayfirst: bool | None = None, date_format: str | None = None
) -> pd.DataFrame:
    raw = read_table(path)
    return _frame(
        raw, str(path), sort=sort, dayfirst=dayfirst, date_format=date_format, first_row=2
    )


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (``.gz`` too) or Parquet file as read, unchecked; a file that is missing, a folder,
    unreadable, or holds no rows is refused naming it."""
    if not path.exists():
        raise DataFileError(f"data file {path} does not exist; check the path")
    if path.is_dir():
        raise DataFileError(f"{path} is a folder, not a data file; pass a .csv or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            with warnings.catch_warnings():
                # a row with more fields than the header is an error, never a shifted table
                warnings.simplefilter("error", pd.errors.ParserWarning)
                raw = pd.read_csv(path, index_col=False, skipinitialspace=True)
    except pd.errors.ParserWarning:
        raise DataFileError(_field_count_message(path)) from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        hint = ""
        if "fields" in str(exc):
            hint = " (an unquoted thousands separator such as 2,511.14? quote it or drop the comma)"
        raise DataFileError(
            f"cannot read {path} as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'}: "
            f"{exc}{hint}"
        ) from exc
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataFileError(f"cannot read {path}: {exc}") from exc
    if raw.empty:
        raise DataFileError(f"{path} holds no rows")
    table: pd.DataFrame = raw
    return table


def _raw_frame(source: Any) -> pd.DataFrame:
    """Prices passed in, as a table with the dates in a column (the caller's object untouched)."""
    frame: Any = source.to_pandas() if hasattr(source, "to_pandas") else source
    if isinstance(frame, pd.Series):
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise MissingDateColumnError(
                "a Series of prices needs a DatetimeIndex (its dates); set one with "
                "series.index = pd.to_datetime(dates)"
            )
        frame = frame.to_frame(str(frame.name) if frame.name is not None else "close")
    if not isinstance(frame, pd.DataFrame):
        raise DataFileError(f"cannot read prices from a {type(source).__name__}")
    if frame.empty:
        raise DataFileError(f"the {type(source).__name__} holds no rows")
    if isinstance(frame.index, pd.DatetimeIndex):
        name = frame.index.name if frame.index.name is not None else "date"
        if normalise_name(name) not in DATE_COLUMNS:
            name = "date"
        frame = frame.rename_axis(str(name)).reset_index()
    else:
        frame = frame.copy()
    table: pd.DataFrame = frame
    return table


def _frame(
    raw: pd.DataFrame,
    where: str,
    *,
    sort: bool,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    first_row: int = 0,
) -> pd.DataFrame:
    """A read table as prices: normalised column names, a date column parsed into a sorted,
    unique DatetimeIndex, numeric columns; ``where`` names it in messages, ``first_row`` is the
    number of its first data row (2 in a CSV file with a header)."""
    if raw.index.name is not None and normalise_name(raw.index.name) in DATE_COLUMNS:
        raw = raw.reset_index()
    raw.columns = _normalised_columns(raw.columns, where)
    date_col = next((c for c in DATE_COLUMNS if c in raw.columns), None)
    if date_col is None:
        raise MissingDateColumnError(
            f"{where} has no date column (looked for {', '.join(DATE_COLUMNS)}, any case); "
            f"its columns are {', '.join(map(str, raw.columns))}. Rename the date column to 'date'."
        )
    dates = parse_dates(raw[date_col], f"{where}, column {date_col!r}", dayfirst, date_format)
    df = raw.drop(columns=[date_col])
    df.index = pd.DatetimeIndex(dates, name="date")
    row = "row" if first_row else "position"
    dup = df.index.duplicated(keep=False)
    if dup.any():
        first = df.index[int(np.argmax(dup))]
        rows = np.flatnonzero(df.index == first)[:2] + first_row
        instrument = next((c for c in INSTRUMENT_COLUMNS if c in df.columns), None)
        fix = "Keep one row per date."
        if instrument is not None and df[instrument].nunique() > 1:
            fix = (
                f"Its column {instrument!r} names {df[instrument].nunique()} instruments: a "
                f"panel, so load it with gatecast.load_panel (one series per instrument, dates "
                f"may repeat across them; on the command line, gatecast evaluate --panel)."
            )
        raise DuplicateDatesError(
            f"{where} has {int(df.index.duplicated().sum())} duplicate date(s); {_fmt_date(first)} "
            f"appears {'on rows' if first_row else 'at positions'} {rows[0]} and {rows[1]}. {fix}"
        )
    pos = _first_out_of_order(df.index)
    if pos is not None:
        if not sort:
            raise UnsortedDatesError(
                f"{where} is not sorted by date: {row} {pos + first_row} "
                f"({_fmt_date(df.index[pos])}) comes after {_fmt_date(df.index[pos - 1])}. Sort "
                f"it, or pass sort=True (--sort)."
            )
        df = df.sort_index()
    numeric: dict[str, pd.Series] = {}
    text: dict[str, str] = {}
    bad_values: dict[str, tuple[str, str]] = {}
    for c in df.columns:
        col, bad = _numbers(df[c])
        if bad.any() and bad.sum() == df[c].notna().sum():
            text[c] = str(df[c][bad].iloc[0])
            continue
        if bad.any():
            bad_values[c] = (_fmt_date(df.index[bad][0]), str(df[c][bad].iloc[0]))
        numeric[c] = col
    out: pd.DataFrame = pd.DataFrame(numeric, index=df.index)
    if out.columns.empty:
        raise DataFileError(f"{where} has no numeric price columns besides {date_col!r}")
    if text:
        out.attrs["text_columns"] = text
    if bad_values:
        out.attrs["bad_values"] = bad_values
    return out


def _field_count_message(path: Path) -> str:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        rows = csv.reader(fh)
        header = next(rows, [])
        for no, row in enumerate(rows, start=2):
            if len(row) > len(header):
                return (
                    f"{path}, row {no}: {len(row)} fields, the header has {len(header)} "
                    f"({','.join(header)}); an unquoted thousands separator such as 2,511.14? "
                    f"quote the value or drop the comma"
                )
    return f"{path} has rows with more fields than its header"


def _normalised_columns(columns: pd.Index, path: Path | str) -> list[str]:
    """Normalised names; two columns that become one name are refused, naming both (pandas
    renames a repeated header ``Close,Close`` to ``Close, Close.1``: that counts as a repeat)."""
    originals = [str(c) for c in columns]
    written = []  # the header as the file wrote it
    for c in originals:
        m = re.fullmatch(r"(.*)\.\d+", c)
        written.append(m.group(1) if m is not None and m.group(1) in originals else c)
    repeat = first_repeat(written, normalise_name)
    if repeat is not None:
        first, header = repeat
        raise DataFileError(
            f"{path} has two columns that both mean {normalise_name(header)!r}: {first!r} and "
            f"{header!r} (names are case- and punctuation-insensitive); rename or drop one"
        )
    return [normalise_name(h) for h in written]

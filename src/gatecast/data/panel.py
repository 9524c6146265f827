"""Panels: the prices of many instruments, each on its own calendar, read and checked as one series is."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gatecast.data.parsing import _numbers, first_flagged, first_repeat, parse_dates
from gatecast.data.sources import (
    BUNDLED,
    BUNDLED_PREFIX,
    DATE_COLUMNS,
    INSTRUMENT_COLUMNS,
    DataSource,
    _first_out_of_order,
    _fmt_date,
    _frame,
    _load_bundled,
    _normalised_columns,
    _raw_frame,
    check_finite,
    check_prices,
    data_label,
    is_frame,
    load,
    normalise_name,
    read_table,
    resolve_column,
)
from gatecast.errors import (
    ConfigError,
    DataFileError,
    DuplicateDatesError,
    MissingDateColumnError,
    MissingValueError,
    PanelError,
    UnknownColumnError,
    UnknownDatasetError,
    UnsortedDatesError,
)

#: How a table holds its instruments: ``long`` (a date and an instrument column, one row per
#: instrument and date), ``wide`` (a date column and one price column per instrument), or
#: ``auto`` (long when an instrument column is there, else wide).
Layout = Literal["auto", "long", "wide"]

#: Column names that mean one instrument's prices, not one instrument each (a wide table whose
#: columns are all of these is a single series, refused under ``layout="auto"``).
SERIES_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume", "price", "value")

#: File endings read when a panel is a folder of files, one instrument each.
PANEL_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

#: Bundled panels (no network): name -> description.
BUNDLED_PANELS: dict[str, str] = {
    "sp500_stocks": (
        "20 S&P 500 stocks, daily adjusted closes, 1990-2022 (the CSV the skfolio package "
        "ships; pip install 'gatecast[panel]')"
    ),
    "arch_panel": (
        "sp500, nasdaq and wti closes from arch.data: unaligned calendars and ranges (wti's "
        "days without an assessment are absent rows)"
    ),
}
_ARCH_PANEL = ("sp500", "nasdaq", "wti")


class Panel(Mapping[str, pd.DataFrame]):
    """Several instruments' prices: a read-only mapping from instrument name to that
    instrument's own frame (a sorted, unique DatetimeIndex named ``date``; numeric columns, the
    price column ``column`` among them, checked finite and positive).

    Each instrument keeps its own calendar: a date on which one instrument has a row and
    another has none stays absent for the second; no row is ever forward-filled or invented
    across instruments. Instruments are held in name order.

    Why a mapping of frames rather than one long frame: every later step (split, scaler,
    windows) works per instrument on that instrument's rows, and instruments may carry
    different columns (one has volume, another not); one long frame would pad those with NaN
    cells that no file held. :meth:`to_long` and :meth:`to_wide` give the long and wide views.
    """

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        column: str = "close",
        source: str = "a panel",
        layout: str = "instruments passed in",
    ) -> None:
        if not frames:
            raise PanelError(f"{source} holds no instruments")
        checked: dict[str, pd.DataFrame] = {}
        for name in sorted(frames, key=str):
            df = frames[name]
            where = f"instrument {name!r} of {source}"
            if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
                raise PanelError(f"{where} is not a DataFrame with a DatetimeIndex of its dates")
            if df.index.has_duplicates or not df.index.is_monotonic_increasing:
                raise PanelError(f"{where}: its dates are not sorted and unique")
            if column not in df.columns:
                raise UnknownColumnError(
                    f"{where} has no price column {column!r}; its columns: "
                    f"{', '.join(map(str, df.columns))}"
                )
            checked[str(name)] = df
        self._frames = checked
        self.column = column
        self.source = source
        #: How the instruments were read, in words (``long (instrument column 'ticker')``,
        #: ``wide (one price column per instrument)``, ``one file per instrument``...): what a
        #: command says it read, so a file is never taken for a panel silently.
        self.layout = layout

    def __getitem__(self, instrument: str) -> pd.DataFrame:
        try:
            return self._frames[instrument]
        except KeyError:
            raise PanelError(
                f"{instrument!r} is not an instrument of {self.source}; its instruments: "
                f"{', '.join(self._frames)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __repr__(self) -> str:
        return f"Panel({len(self)} instruments, {self.rows} rows, {self.source})"

    @property
    def instruments(self) -> list[str]:
        """The instrument names, in order."""
        return list(self._frames)

    @property
    def rows(self) -> int:
        """Rows over all instruments."""
        return sum(len(df) for df in self._frames.values())

    def select(self, instruments: Sequence[str]) -> Panel:
        """The panel of ``instruments`` only (each must be in this one)."""
        return Panel(
            {name: self[name] for name in instruments},
            column=self.column,
            source=self.source,
            layout=self.layout,
        )

    def _repr_html_(self) -> str:
        """The panel in a notebook: one row per instrument (first and last date, rows)."""
        head = f"<p><b>Panel of {len(self)} instruments</b></p>"
        return head + str(self.summary().to_html(border=0, max_rows=30))

    def summary(self) -> pd.DataFrame:
        """One row per instrument: its first and last date and its row count."""
        rows = [
            {"instrument": n, "first": _fmt_date(df.index[0]), "last": _fmt_date(df.index[-1])}
            | {"rows": len(df)}
            for n, df in self._frames.items()
        ]
        table: pd.DataFrame = pd.DataFrame(rows).set_index("instrument")
        return table

    def to_long(self) -> pd.DataFrame:
        """One frame indexed by (instrument, date): each instrument's own rows, nothing added
        but NaN in a column that an instrument does not have."""
        long: pd.DataFrame = pd.concat(self._frames, names=["instrument", "date"])
        return long

    def to_wide(self, column: str | None = None) -> pd.DataFrame:
        """One column per instrument of ``column`` (default: the price column) on the union of
        the dates; NaN marks a date on which that instrument has no row (never a filled value)."""
        col = self.column if column is None else column
        for name, df in self._frames.items():
            if col not in df.columns:
                raise UnknownColumnError(f"instrument {name!r} of {self.source} has no {col!r}")
        wide: pd.DataFrame = pd.concat({n: df[col] for n, df in self._frames.items()}, axis=1)
        wide.index.name = "date"
        return wide

    def identity(self) -> dict[str, Any]:
        """What a run records of this panel: its source, and per instrument its first and last
        date, row count and a SHA-256 of its values and dates."""
        from gatecast.artifacts import array_hash

        return {
            "source": self.source,
            "instruments": {
                name: {
                    "first": _fmt_date(df.index[0]),
                    "last": _fmt_date(df.index[-1]),
                    "rows": len(df),
                    "sha256": array_hash(
                        df.to_numpy(dtype=float), np.asarray(df.index.astype("int64"))
                    ),
                }
                for name, df in self._frames.items()
            },
        }


PanelSource = DataSource | Sequence[str | os.PathLike[str]] | Mapping[str, DataSource]


def load_panel(
    source: PanelSource,
    *,
    layout: Layout = "auto",
    instrument: str | None = None,
    column: str | None = None,
    sort: bool = False,
    dropna: bool = False,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    allow_outliers: bool = False,
) -> Panel:
    """Load the prices of several instruments as a :class:`Panel`, each checked as
    :func:`gatecast.load` checks one series.

    Calendars are kept as they are: each instrument has the rows its data has, and no value is
    forward-filled or invented across instruments (a date one instrument trades and another
    does not is absent for the second).

    Parameters
    ----------
    source
        One of:

        - a bundled panel, ``sp500_stocks`` or ``arch_panel`` (``bundled:`` prefix allowed; see
          :func:`panel_datasets`);
        - the path of a ``.csv`` (``.csv.gz``) or ``.parquet`` file, or a DataFrame or pyarrow
          Table, in the long layout (a date column, an instrument column named ``instrument``,
          ``unique_id``, ``ticker``, ``symbol`` or ``asset``, and price columns) or the wide
          one (a date column and one price column per instrument, named by its instrument);
        - a list of file paths, or a folder of ``.csv``/``.parquet`` files, one instrument per
          file, named by the file's stem (``AAPL.csv`` -> ``AAPL``);
        - a mapping ``{instrument: source}`` of anything :func:`gatecast.load` reads.
    layout
        ``auto`` (long when an instrument column is present, else wide), ``long`` or ``wide``.
    instrument
        The instrument column of a long table, when it has another name.
    column
        The price column (long tables, files, mappings: checked as ``load`` checks it; default
        the preferred price column, e.g. ``adj_close`` then ``close``). For a wide table, the
        name its values get (default ``close``).
    sort
        Sort each instrument's unsorted dates instead of refusing them.
    dropna
        Drop an instrument's rows whose price is NaN/inf (counted in that frame's
        ``attrs["dropped"]``) instead of refusing them. A wide table's empty cell is always an
        absent row for its instrument, not a NaN to refuse or fill.
    dayfirst, date_format, allow_outliers
        As in :func:`gatecast.load`.

    Returns
    -------
    A :class:`Panel`, instruments in name order.

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({
    ...     "date": ["2020-01-02", "2020-01-03", "2020-01-02"],
    ...     "ticker": ["A", "A", "B"], "close": [10.0, 10.5, 20.0]})
    >>> load_panel(long).summary()["rows"].to_dict()  # B has no row on 2020-01-03
    {'A': 2, 'B': 1}
    """
    opts: dict[str, Any] = {
        "column": column,
        "sort": sort,
        "dropna": dropna,
        "dayfirst": dayfirst,
        "date_format": date_format,
        "allow_outliers": allow_outliers,
    }
    if isinstance(source, Mapping) and not is_frame(source):
        return _from_sources(dict(source), "the instruments passed in", opts)
    if isinstance(source, Sequence) and not isinstance(source, str | bytes):
        paths = [Path(os.fspath(p)) for p in source]
        return _from_files(paths, f"the files {', '.join(map(str, paths))}", opts)
    if is_frame(source):
        frame: Any = source
        if isinstance(frame, pd.Series):
            raise PanelError(
                "a Series is one instrument's prices; pass a DataFrame (long or wide) or "
                "{'NAME': series, ...}"
            )
        raw = frame.to_pandas() if hasattr(frame, "to_pandas") else frame
        if isinstance(raw.index, pd.MultiIndex):  # e.g. Panel.to_long()
            raw = raw.reset_index()
        else:
            raw = _raw_frame(raw)
        return _from_table(raw, f"the {data_label(source)}", 0, layout, instrument, opts)
    key = str(os.fspath(source))  # type: ignore[arg-type]
    name = key[len(BUNDLED_PREFIX) :] if key.lower().startswith(BUNDLED_PREFIX) else key
    path = Path(key)
    if name.lower() in BUNDLED_PANELS and not (name == key and path.exists()):
        return _bundled_panel(name.lower(), opts)
    if name != key:
        raise UnknownDatasetError(
            f"{key!r}: there is no bundled panel {name!r}; bundled panels: "
            f"{', '.join(BUNDLED_PANELS)}"
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _panel_file(p))
        if not files:
            raise DataFileError(
                f"the folder {path} holds no {', '.join(PANEL_FILE_SUFFIXES)} files (one "
                f"instrument per file)"
            )
        return _from_files(files, f"the folder {path}", opts)
    if not path.exists():
        series = (
            f"; {key!r} is one bundled series: combine series as "
            f"load_panel({{'{key.lower()}': '{key.lower()}', ...}})"
            if key.lower() in BUNDLED
            else ""
        )
        raise UnknownDatasetError(
            f"{key!r} is neither a bundled panel ({', '.join(BUNDLED_PANELS)}) nor an existing "
            f"file or folder{series}"
        )
    return _from_table(read_table(path), f"file {path}", 2, layout, instrument, opts)


def _panel_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(PANEL_FILE_SUFFIXES)


def _stem(path: Path) -> str:
    """``AAPL.csv.gz`` -> ``AAPL``: the instrument a file holds."""
    name = path.name
    for suffix in sorted((*PANEL_FILE_SUFFIXES, ".txt"), key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _from_files(paths: list[Path], where: str, opts: dict[str, Any]) -> Panel:
    repeat = first_repeat(paths, _stem)
    if repeat is not None:
        first, path = repeat
        raise PanelError(
            f"{where}: {first} and {path} both name instrument {_stem(path)!r} (an "
            f"instrument is its file's stem); keep one file per instrument"
        )
    sources: dict[str, DataSource] = {_stem(path): path for path in paths}
    return _from_sources(sources, where, opts)


def _from_sources(
    sources: dict[str, DataSource],
    where: str,
    opts: dict[str, Any],
    layout: str = "a mapping instrument -> series",
) -> Panel:
    if not sources:
        raise PanelError(f"{where}: no instruments given")
    frames: dict[str, pd.DataFrame] = {}
    for name, src in sources.items():
        if not isinstance(name, str) or not name.strip():
            raise PanelError(f"{where}: instrument name {name!r} is not a name; use text")
        df = load(
            src, sort=opts["sort"], dayfirst=opts["dayfirst"], date_format=opts["date_format"]
        )
        label = df.attrs.get("source", "the data")
        frames[name.strip()] = _checked(df, f"{label} (instrument {name.strip()!r})", opts)
    return _panel(frames, where, layout)


def _from_table(
    raw: pd.DataFrame,
    where: str,
    first_row: int,
    layout: Layout,
    instrument: str | None,
    opts: dict[str, Any],
) -> Panel:
    """A long or wide table as a panel; ``first_row`` numbers its first data row in messages
    (2 in a CSV with a header, 0 for positions in a frame)."""
    if layout not in ("auto", "long", "wide"):
        raise ConfigError(f"layout={layout!r}: choose auto, long or wide")
    headers = [str(c).strip() for c in raw.columns]
    names = _normalised_columns(raw.columns, where)
    raw = raw.set_axis(names, axis=1)
    date_col = next((c for c in DATE_COLUMNS if c in names), None)
    if date_col is None:
        raise MissingDateColumnError(
            f"{where} has no date column (looked for {', '.join(DATE_COLUMNS)}, any case); its "
            f"columns are {', '.join(headers)}. Rename the date column to 'date'."
        )
    if instrument is not None:
        if layout == "wide":
            raise ConfigError("instrument= names the instrument column of a long table; not wide")
        inst_col: str | None = normalise_name(instrument)
        if inst_col not in names:
            raise UnknownColumnError(
                f"instrument column {instrument!r} is not in {where}; its columns: "
                f"{', '.join(headers)}"
            )
    else:
        inst_col = next((c for c in INSTRUMENT_COLUMNS if c in names), None)
    if layout == "long" and inst_col is None:
        raise PanelError(
            f"{where} has no instrument column (looked for {', '.join(INSTRUMENT_COLUMNS)}); "
            f"its columns are {', '.join(headers)}; pass instrument='NAME' or layout='wide'"
        )
    dates = parse_dates(raw[date_col], f"{where}, column {date_col!r}", *_date_opts(opts))
    if inst_col is not None and layout != "wide":
        return _from_long(raw, where, first_row, date_col, inst_col, dates, opts)
    values = [h for h, n in zip(headers, names, strict=True) if n != date_col]
    if layout == "auto" and all(normalise_name(h) in SERIES_COLUMNS for h in values):
        raise PanelError(
            f"{where} looks like one instrument's prices (columns {', '.join(values)}) and has "
            f"no instrument column ({', '.join(INSTRUMENT_COLUMNS)}); load it with "
            f"gatecast.load, or pass layout='wide' if each column is an instrument"
        )
    return _from_wide(raw.set_axis(headers, axis=1), where, first_row, names, dates, opts)


def _date_opts(opts: dict[str, Any]) -> tuple[bool | None, str | None]:
    return opts["dayfirst"], opts["date_format"]


def _from_long(
    raw: pd.DataFrame,
    where: str,
    first_row: int,
    date_col: str,
    inst_col: str,
    dates: pd.DatetimeIndex,
    opts: dict[str, Any],
) -> Panel:
    text = raw[inst_col].astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    row = "row" if first_row else "position"
    if blank.any():
        k = int(np.argmax(blank))
        raise PanelError(
            f"{where}, column {inst_col!r}, {row} {k + first_row}: no instrument named "
            f"({int(blank.sum())} such row(s)); every row needs its instrument"
        )
    labels = text.astype(str).to_numpy()
    dup = pd.MultiIndex.from_arrays([labels, dates]).duplicated(keep=False)
    if dup.any():
        k = int(np.argmax(dup))
        name, day = labels[k], dates[k]
        at = np.flatnonzero((labels == name) & (dates == day))[:2] + first_row
        raise DuplicateDatesError(
            f"{where}: instrument {name!r} has {_fmt_date(day)} twice, on {row}s {at[0]} and "
            f"{at[1]} ({int(dup.sum())} duplicated (instrument, date) rows); keep one row per "
            f"instrument and date"
        )
    frames: dict[str, pd.DataFrame] = {}
    for name in sorted(set(labels)):
        pos = np.flatnonzero(labels == name)
        own = dates[pos]
        late = _first_out_of_order(own)
        if late is not None and not opts["sort"]:
            raise UnsortedDatesError(
                f"{where}: instrument {name!r} is not sorted by date: {row} "
                f"{pos[late] + first_row} ({_fmt_date(own[late])}) comes after {row} "
                f"{pos[late - 1] + first_row} ({_fmt_date(own[late - 1])}). Sort the rows by "
                f"date, or pass sort=True (--sort)."
            )
        sub = raw.iloc[pos].drop(columns=[inst_col])
        sub[date_col] = own
        label = f"{where}, instrument {name!r}"
        frames[name] = _checked(_frame(sub.reset_index(drop=True), label, sort=True), label, opts)
    return _panel(frames, where, f"long (instrument column {inst_col!r})")


def _from_wide(
    raw: pd.DataFrame,
    where: str,
    first_row: int,
    names: list[str],
    dates: pd.DatetimeIndex,
    opts: dict[str, Any],
) -> Panel:
    row = "row" if first_row else "position"
    if dates.has_duplicates:
        day = dates[dates.duplicated()][0]
        at = np.flatnonzero(dates == day)[:2] + first_row
        raise DuplicateDatesError(
            f"{where} (wide: one row per date) has {_fmt_date(day)} on {row}s {at[0]} and "
            f"{at[1]}; keep one row per date, or use the long layout with an instrument column"
        )
    order = np.arange(len(dates))
    k = _first_out_of_order(dates)
    if k is not None:
        if not opts["sort"]:
            raise UnsortedDatesError(
                f"{where} is not sorted by date: {row} {k + first_row} ({_fmt_date(dates[k])}) "
                f"comes after {_fmt_date(dates[k - 1])}. Sort it, or pass sort=True (--sort)."
            )
        order = np.argsort(dates.asi8, kind="stable")
    dates = pd.DatetimeIndex(dates[order], name="date")
    price = normalise_name(opts["column"]) if opts["column"] else "close"
    frames: dict[str, pd.DataFrame] = {}
    date_header = next(h for h, n in zip(raw.columns, names, strict=True) if n in DATE_COLUMNS)
    for header in raw.columns:
        if header == date_header:
            continue
        values, text = _numbers(raw[header].iloc[order].reset_index(drop=True))
        label = f"{where}, instrument {header!r}"
        bad = first_flagged(text)
        if bad is not None:
            k, count = bad
            raise MissingValueError(
                f"{label} holds {str(raw[header].iloc[order[k]])!r} on {_fmt_date(dates[k])}, "
                f"not a number ({count} such cell(s)); write a number, or leave the "
                f"cell empty where the instrument has no price that day"
            )
        # an empty cell is a day this instrument has no row: absent, never filled
        present = values.notna().to_numpy(dtype=bool)
        if not present.any():
            raise PanelError(
                f"{label} holds no prices (every cell is empty); drop its column or fill it in"
            )
        df = pd.DataFrame({price: values.to_numpy()[present]}, index=dates[present])
        frames[header] = _checked(df, label, opts)
    return _panel(frames, where, "wide (one price column per instrument)")


def _checked(df: pd.DataFrame, where: str, opts: dict[str, Any]) -> pd.DataFrame:
    """One instrument's frame with its price column checked as ``load`` checks it: NaN/inf
    refused (or dropped with ``dropna``), non-positive and absurd prices refused."""
    df.attrs["source"] = where
    df.attrs.setdefault("dropped", 0)
    col = resolve_column(df, opts["column"])
    df = check_finite(df, col, dropna=opts["dropna"])
    if df.empty:
        raise MissingValueError(f"{where} has no finite prices in {col!r} left after dropna")
    df = check_prices(df, col, allow_outliers=opts["allow_outliers"])
    df.attrs["price_column"] = col
    return df


def _panel(frames: dict[str, pd.DataFrame], where: str, layout: str = "bundled") -> Panel:
    columns = {name: df.attrs["price_column"] for name, df in frames.items()}
    a, ca = next(iter(columns.items()))
    b, cb = next(((n, c) for n, c in columns.items() if c != ca), (a, ca))
    if cb != ca:
        raise PanelError(
            f"{where}: instrument {a!r} prices from {ca!r} but {b!r} from {cb!r}; pass "
            f"column='NAME' for a price column every instrument has"
        )
    return Panel(frames, column=next(iter(columns.values())), source=where, layout=layout)


def _bundled_panel(name: str, opts: dict[str, Any]) -> Panel:
    where = f"bundled panel {name!r}"
    if name == "arch_panel":
        # FRED marks wti's days without an assessment as empty: they are absent rows here
        frames = {
            n: _checked(
                check_finite(_load_bundled(BUNDLED[n])[["close"]], "close", dropna=True),
                f"{where}, instrument {n!r}",
                opts | {"column": "close"},
            )
            for n in _ARCH_PANEL
        }
        return _panel(frames, where, "bundled")
    path = skfolio_prices_file()
    raw = _raw_frame(read_table(path))
    label = f"{where} ({path.name} of skfolio {version('skfolio')})"
    panel = _from_table(raw, label, 2, "wide", None, opts)
    panel.layout = "bundled"
    return panel


def skfolio_prices_file() -> Path:
    """The CSV of 20 S&P 500 stocks' adjusted closes that the installed skfolio package ships
    (found without importing skfolio, read without any network)."""
    spec = importlib.util.find_spec("skfolio")
    try:
        version("skfolio")
    except PackageNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        raise UnknownDatasetError(
            "the bundled panel 'sp500_stocks' is the CSV that the skfolio package ships, and "
            "skfolio is not installed; pip install 'gatecast[panel]' (or pip install skfolio)"
        )
    path = Path(spec.origin).parent / "datasets" / "data" / "sp500_dataset.csv.gz"
    if not path.is_file():
        raise DataFileError(
            f"skfolio {version('skfolio')} does not ship {path.name} where gatecast looks "
            f"({path}); install skfolio>=0.1 as pinned by gatecast[panel]"
        )
    return path


def panel_datasets() -> pd.DataFrame:
    """The bundled panels: instruments, first and last date, rows (over all instruments); a
    panel whose package is not installed says so in its description."""
    rows = []
    for name, description in BUNDLED_PANELS.items():
        try:
            panel = load_panel(name)
        except UnknownDatasetError:
            rows.append(
                {"name": name, "description": f"{description}: NOT INSTALLED"}
                | {"instruments": "-", "first": "-", "last": "-", "rows": 0}
            )
            continue
        summary = panel.summary()
        rows.append(
            {"name": name, "description": description}
            | {
                "instruments": f"{len(panel)}: {', '.join(panel.instruments)}",
                "first": min(summary["first"]),
                "last": max(summary["last"]),
                "rows": panel.rows,
            }
        )
    table: pd.DataFrame = pd.DataFrame(rows).set_index("name")
    return table

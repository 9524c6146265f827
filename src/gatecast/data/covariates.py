"""Covariates: other series (VIX, another index, columns of a file of the user's, another
instrument of a panel) joined onto one series' rows as model inputs, each value used only for
forecasts made after its date.

A covariate is named by a spec: a bundled group (``vix``, ``nasdaq``, ``sp500``),
``file:PATH:COLUMN[:COLUMN...]`` (columns of a CSV/Parquet file read by
:func:`gatecast.data.sources.load`), ``calendar:EXCHANGE`` (the next session on an exchange's
calendar, known in advance: :mod:`gatecast.data.calendar_covariates`) or, on a panel,
``instrument:NAME`` (that instrument's return and log Parkinson range)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from gatecast.data.calendar import DATA
from gatecast.data.calendar_covariates import (
    CALENDAR,
    calendar_columns,
    calendar_exchange,
    check_sessions,
    on_sessions,
    session_values,
)
from gatecast.data.features import PERCENT_LOG, parkinson
from gatecast.data.sources import _fmt_date, load, normalise_name
from gatecast.errors import ConfigError, DataError
from gatecast.types import registered

#: The oldest a covariate value may be when it is joined (a week spans long weekends and
#: holidays); an older one is a gap, never carried on.
MAX_AGE = pd.Timedelta("7D")


@dataclass(frozen=True)
class CovariateGroup:
    """A covariate group: a bundled series (``source``), the columns it gives, each computed
    from that series' own rows (``build``: its frame -> the columns, one value per date of its
    own, known at that date's close), and what they are (``doc``).

    ``known_in_advance``: the values are fixed before the dates they describe (an exchange's
    calendar, ``calendar:XNYS``), so the row of day t may describe the day t's forecast is for;
    a value of the other groups is a measurement, known from its date's close on."""

    name: str
    source: str
    columns: tuple[str, ...]
    build: Callable[[pd.DataFrame], pd.DataFrame]
    doc: str
    known_in_advance: bool = False


def _vix(df: pd.DataFrame) -> pd.DataFrame:
    close = df["close"].astype(float)
    out: pd.DataFrame = pd.DataFrame({"vix_log": np.log(close)}, index=df.index)
    return out


def _index(prefix: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def build(df: pd.DataFrame) -> pd.DataFrame:
        out: pd.DataFrame = pd.DataFrame(
            {
                f"{prefix}_return": PERCENT_LOG.returns(df["close"].astype(float)),
                f"{prefix}_log_parkinson": np.log(parkinson(df).clip(lower=1e-4)),
            },
            index=df.index,
        )
        return out

    return build


#: Every covariate group by name.
COVARIATES: dict[str, CovariateGroup] = {
    g.name: g
    for g in (
        CovariateGroup(
            "vix",
            "vix",
            ("vix_log",),
            _vix,
            "log of the CBOE VIX close (arch.data, 2014-01-03 .. 2019-01-03)",
        ),
        CovariateGroup(
            "nasdaq",
            "nasdaq",
            ("nasdaq_return", "nasdaq_log_parkinson"),
            _index("nasdaq"),
            "the NASDAQ Composite's percent log return and log Parkinson range "
            "(arch.data, 1999-2018)",
        ),
        CovariateGroup(
            "sp500",
            "sp500",
            ("sp500_return", "sp500_log_parkinson"),
            _index("sp500"),
            "the S&P 500 index's percent log return and log Parkinson range (arch.data, "
            "1999-2018): the index of a panel of its stocks",
        ),
    )
}


#: The prefix of a covariate spec naming columns of a file: ``file:PATH:COLUMN[:COLUMN...]``.
FILE = "file:"
#: The prefix of a covariate spec naming an instrument of a panel: ``instrument:NAME``.
INSTRUMENT = "instrument:"
_FILE_SYNTAX = "file:PATH:COLUMN[:COLUMN...], e.g. file:macro.csv:rate:term_spread"


@lru_cache(maxsize=8)
def _read(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    """The file ``path`` read once per version (``stamp``: its mtime and size)."""
    return load(path)


def _file_frame(path: str) -> pd.DataFrame:
    """The covariate file ``path`` as :func:`gatecast.data.sources.load` reads it (cached)."""
    st = Path(path).stat()
    frame: pd.DataFrame = _read(str(Path(path).resolve()), (st.st_mtime_ns, st.st_size)).copy()
    return frame


def _file_group(spec: str) -> CovariateGroup:
    """The covariate group of ``file:PATH:COLUMN[:COLUMN...]``: the named columns of the file
    (names normalised as :func:`~gatecast.data.sources.load` normalises them), each becoming
    ``<file stem>_<column>``; the file and its columns checked here (before any fit)."""
    for sep, what in (("+", "a model's covariates (lstm+vix)"), (",", "the --covariates list")):
        if sep in spec:
            raise ConfigError(
                f"covariate {spec!r}: {sep!r} separates {what}; rename the file or column "
                f"without it"
            )
    path, *cols = spec[len(FILE) :].split(":")
    if not path.strip() or not cols or not all(c.strip() for c in cols):
        raise ConfigError(f"covariate {spec!r}: write {_FILE_SYNTAX}")
    if not Path(path).is_file():
        raise ConfigError(
            f"covariate {spec!r}: no file {path!r} (from {Path.cwd()}); give the path of a "
            f".csv or .parquet file with a date column: {_FILE_SYNTAX}"
        )
    columns = tuple(normalise_name(c) for c in cols)
    if len(set(columns)) != len(columns):
        raise ConfigError(f"covariate {spec!r} names a column twice")
    frame = _file_frame(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"covariate {spec!r}: file {path} has no column(s) {missing}; its columns are "
            f"{list(frame.columns)}"
        )
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise DataError(
            f"covariate {spec!r}: column(s) {text} of {path} are not numbers; a covariate "
            f"column holds one number a date"
        )
    stem = normalise_name(Path(path).stem) or "file"

    def build(df: pd.DataFrame) -> pd.DataFrame:
        out: pd.DataFrame = df.loc[:, list(columns)].astype(float)
        out.columns = pd.Index([f"{stem}_{c}" for c in columns])
        return out

    return CovariateGroup(
        spec,
        path,
        tuple(f"{stem}_{c}" for c in columns),
        build,
        f"column(s) {', '.join(columns)} of the file {path}",
    )


def _instrument_group(spec: str) -> CovariateGroup:
    """The covariate group of ``instrument:NAME``: that panel instrument's percent log return
    and log Parkinson range (as the bundled index groups), columns ``<name>_return`` and
    ``<name>_log_parkinson``."""
    name = spec[len(INSTRUMENT) :].strip()
    prefix = normalise_name(name)
    if not prefix or "+" in name or "," in name:
        raise ConfigError(
            f"covariate {spec!r}: write instrument:NAME with NAME an instrument of the panel, "
            f"e.g. instrument:SPY"
        )
    return CovariateGroup(
        spec,
        spec,
        (f"{prefix}_return", f"{prefix}_log_parkinson"),
        _index(prefix),
        f"the panel instrument {name}'s percent log return and log Parkinson range",
    )


def _calendar_group(spec: str) -> CovariateGroup:
    """The covariate group of ``calendar:EXCHANGE``: on the row of day t, the next session of
    the exchange after t (:mod:`gatecast.data.calendar_covariates`), known in advance."""
    exchange = calendar_exchange(spec)

    def build(df: pd.DataFrame) -> pd.DataFrame:
        check_sessions(df.index, exchange, spec, df.attrs.get("source", "the data"))
        return on_sessions(df.index, session_values(exchange))

    return CovariateGroup(
        spec,
        exchange,
        calendar_columns(exchange),
        build,
        f"the next {exchange} session after each row: its day of the week (sin, cos), whether "
        f"it ends its month, the calendar days to it",
        known_in_advance=True,
    )


def calendar_of_spec(name: str) -> str | None:
    """The exchange a covariate spec ``calendar:EXCHANGE`` names (None for another spec)."""
    return calendar_exchange(name) if name.startswith(CALENDAR) else None


def instrument_of(name: str) -> str | None:
    """The panel instrument a covariate spec ``instrument:NAME`` names (None for another spec)."""
    return name[len(INSTRUMENT) :].strip() if name.startswith(INSTRUMENT) else None


def covariate_group(name: str) -> CovariateGroup:
    """The covariate group ``name``: a bundled group (``vix``), ``file:PATH:COLUMN[:...]`` (the
    file and its columns checked), ``calendar:EXCHANGE`` or ``instrument:NAME``; else a
    ConfigError listing the known ones."""
    if name.startswith(FILE):
        return _file_group(name)
    if name.startswith(CALENDAR):
        return _calendar_group(name)
    if name.startswith(INSTRUMENT):
        return _instrument_group(name)
    return registered(
        COVARIATES,
        name,
        "covariate",
        " (a column of this series' own prices is a --features input, not a covariate; "
        f"columns of a file of yours: {_FILE_SYNTAX}; the next session on an exchange's "
        "calendar: calendar:EXCHANGE, e.g. calendar:XNYS; on a panel, another instrument: "
        "instrument:NAME)",
    )


def checked_groups(names: str | Iterable[str]) -> tuple[str, ...]:
    """The covariate groups ``names`` as a tuple (a string is one group; blanks left out),
    each known (an unknown one is refused, listing the known ones), none twice."""
    groups = (names,) if isinstance(names, str) else tuple(names)
    groups = tuple(g.strip() for g in groups if g.strip())
    for g in groups:
        covariate_group(g)
    if len(set(groups)) != len(groups):
        raise ConfigError(f"covariates {list(groups)} name a group twice")
    return groups


def covariate_columns(names: Sequence[str]) -> tuple[str, ...]:
    """The columns the covariate groups ``names`` add, in order."""
    return tuple(c for n in names for c in covariate_group(n).columns)


def covariate_values(name: str) -> tuple[pd.DataFrame, int]:
    """The columns of the covariate group ``name`` on its own dates, and how many of its rows
    were left out for a NaN (the bundled VIX has 46 closes missing; a gap is then bridged by
    :data:`MAX_AGE`, as :func:`gatecast.data.per_instrument.asof_join` bridges it)."""
    group = covariate_group(name)
    if name.startswith(INSTRUMENT):
        raise ConfigError(
            f"covariate {name!r} is an instrument of a panel: it applies to a panel (--data "
            f"a folder or long file of instruments), not to one series"
        )
    if name.startswith(CALENDAR):  # every session of the exchange, none missing
        return session_values(group.source), 0
    frame = _file_frame(group.source) if name.startswith(FILE) else load(group.source)
    values = group.build(frame)
    ok = np.isfinite(values.to_numpy(dtype=float)).all(axis=1)
    return values[ok], int((~ok).sum())


def known_at_close(
    dates: pd.Index, covariate: pd.DataFrame, max_age: pd.Timedelta | None = MAX_AGE
) -> pd.DataFrame:
    """The covariate as known at the close of each of ``dates``: on the row of day t, the
    covariate's last row dated on or before t, no older than ``max_age`` (else NaN).

    A variance model's input row t forecasts the day after t, so a covariate value dated t is
    used first for the forecast of the next row: the rule of
    :func:`gatecast.data.per_instrument.asof_join`, whose row t (the forecast for t) takes values dated
    strictly before t. A value dated on a day the series has no row waits for the series' next
    row after it.
    """
    left = pd.DataFrame({"_key": pd.DatetimeIndex(dates).astype("datetime64[ns]")})
    right = covariate.rename_axis("_key").reset_index()
    right["_key"] = right["_key"].astype("datetime64[ns]")
    joined = pd.merge_asof(
        left, right, on="_key", direction="backward", allow_exact_matches=True, tolerance=max_age
    )
    out: pd.DataFrame = joined.drop(columns=["_key"])
    out.index = pd.DatetimeIndex(dates, name=dates.name)
    return out


def join_covariates(
    data: pd.DataFrame,
    names: Sequence[str],
    *,
    values: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """``data`` with the columns of the covariate groups ``names`` joined on (each row holds
    the values known at its close, :func:`known_at_close`), and notes of what was done.

    Rows before a covariate's first value are left out (and said in the notes), so that every
    model of a run reads the same rows; a row inside the covered span without a value no older
    than :data:`MAX_AGE` (a gap, or data running past the covariate's end) is refused, naming
    its date. ``values``: the groups' values, instead of the bundled series (tests).

    A calendar group (``calendar:XNYS``) is joined by the day, not as of it: each row from the
    calendar's first session on must be a session and the row after it the next session
    (:func:`gatecast.data.calendar_covariates.check_sessions` refuses the first that is not),
    and the joined frame's ``attrs["calendar"]`` is that exchange (the bars after the data are
    dated by it; data that follows another exchange is refused).

    Returns
    -------
    The joined frame (its ``attrs`` kept) and the notes.
    """
    if len(set(names)) != len(names):
        raise ConfigError(f"covariates {list(names)} name a group twice")
    out = data.copy()
    notes: list[str] = []
    where = data.attrs.get("source", "the data")
    calendar = data.attrs.get("calendar")
    for name in names:
        group = covariate_group(name)
        if values is not None and name in values:
            cov, missing = values[name], 0
        else:
            cov, missing = covariate_values(name)
        clash = [c for c in group.columns if c in out.columns]
        if clash:
            raise ConfigError(f"{where} already has the column(s) {clash} of covariate {name!r}")
        exchange = calendar_of_spec(name)
        if exchange is not None:  # by the day: a row off the calendar is refused, not dated
            follows = calendar
            if follows not in (None, DATA, exchange):
                raise ConfigError(
                    f"covariate {name!r} describes the next {exchange} session, and {where} "
                    f"follows the calendar {follows} (--calendar, or an earlier calendar "
                    f"covariate): name one exchange for both"
                )
            check_sessions(out.index, exchange, name, where)
            joined = on_sessions(out.index, cov)
            # the bars after the data are then dated by this exchange too (a model records it)
            calendar = exchange
        else:
            joined = known_at_close(out.index, cov)
        first = cov.index[0]
        before = out.index < first
        if before.all():
            raise DataError(
                f"covariate {name!r} starts on {_fmt_date(first)}, after the last row of "
                f"{where} ({_fmt_date(out.index[-1])}): it covers none of its dates"
            )
        gap = joined.isna().any(axis=1).to_numpy() & ~before
        if gap.any():
            day, last = _fmt_date(out.index[int(np.argmax(gap))]), _fmt_date(cov.index[-1])
            raise DataError(
                f"covariate {name!r}: the {exchange} sessions that exchange_calendars knows "
                f"end too soon to tell the session after {day} and the one after it (the last "
                f"row it describes is {last}): end the data there, or update exchange_calendars"
                if exchange is not None
                else f"covariate {name!r} has no value within {MAX_AGE.days} days before {day} "
                f"({int(gap.sum())} row(s) of {where}; it covers {_fmt_date(first)} .. {last}): "
                f"end the data at {last} or leave the covariate out"
            )
        if before.any():
            notes.append(
                f"covariate {name} starts on {_fmt_date(first)}: the {int(before.sum())} rows "
                f"of {where} before it were left out, for every model of the run"
            )
        if missing:
            notes.append(
                f"covariate {name}: {missing} row(s) of {group.source} are NaN and were left "
                f"out; those days read its previous value (at most {MAX_AGE.days} days old)"
            )
        out = out.loc[~before]
        for c in group.columns:
            out[c] = joined.loc[~before, c].to_numpy()
    out.attrs = dict(data.attrs)
    if calendar is not None:
        out.attrs["calendar"] = calendar
    return out, notes

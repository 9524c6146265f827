"""Each instrument of a panel on its own rows: a chronological split at one test start, scalers
fit on each instrument's training rows, windows that never cross instruments, and the as-of
join of another series onto each instrument's dates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gatecast.data.parsing import first_flagged
from gatecast.data.scalers import Scaler, fit_scaler
from gatecast.data.sources import (
    _first_out_of_order,
    _fmt_date,
)
from gatecast.data.splits import Split, chronological_split
from gatecast.data.windows import Windows, make_windows
from gatecast.errors import (
    ConfigError,
    DuplicateDatesError,
    MissingDateColumnError,
    MissingValueError,
    PanelError,
    TooFewRowsError,
    UnknownColumnError,
    UnsortedDatesError,
)


def split_panel(
    frames: Mapping[str, pd.DataFrame | pd.Series | pd.Index],
    *,
    test_start: str | pd.Timestamp,
    val_size: float = 0.0,
    gap: int = 0,
    min_train: int = 1,
) -> dict[str, Split]:
    """A chronological split of each instrument's own rows at one ``test_start`` for the panel:
    an instrument's training (and validation) rows are its rows dated before ``test_start``,
    its test rows those on or after it (``frames`` maps each instrument to its frame or its
    dates, e.g. a :class:`Panel`); ``val_size``, ``gap`` and ``min_train`` count that
    instrument's rows (see :func:`gatecast.data.chronological_split`).

    An instrument with no rows before ``test_start`` or none from it on is refused by name
    (:meth:`Panel.select` keeps the others).
    """
    out: dict[str, Split] = {}
    for name, own in frames.items():
        try:
            out[name] = chronological_split(
                _dates(own), test_start=test_start, val_size=val_size, gap=gap, min_train=min_train
            )
        except (ConfigError, TooFewRowsError) as exc:
            raise type(exc)(
                f"instrument {name!r}: {exc}; or leave it out with panel.select([...])"
            ) from exc
    return out


def fit_panel_scalers(
    kind: str,
    frames: Mapping[str, pd.DataFrame],
    splits: Mapping[str, Split],
    columns: Sequence[str] | None = None,
) -> dict[str, Scaler]:
    """One scaler of ``kind`` per instrument, fit on ``columns`` (default: all) of that
    instrument's training rows (``splits[name].train``) only: no test or validation value, and
    no other instrument's value, reaches its parameters."""
    out: dict[str, Scaler] = {}
    for name, df in frames.items():
        if name not in splits:
            raise ConfigError(f"instrument {name!r} has no split; split the same panel")
        cols = list(df.columns if columns is None else columns)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise UnknownColumnError(f"instrument {name!r} has no column(s) {missing}")
        train = df.loc[df.index.isin(splits[name].train), cols].to_numpy(dtype=float)
        labels = [f"instrument {name!r}, column {c!r}" for c in cols]
        out[name] = fit_scaler(kind, train, labels)
    return out


@dataclass(frozen=True)
class PanelWindows(Windows):
    """Windows of every instrument stacked: ``X`` (n, window, features), targets ``y`` (n,),
    ``index`` the date each target is for and ``instrument`` (n,) the instrument each window
    belongs to. Every window holds rows of one instrument only, consecutive in its own
    calendar."""

    index: pd.DatetimeIndex
    instrument: np.ndarray

    def select(self, mask: np.ndarray) -> PanelWindows:
        """The windows where ``mask`` (boolean, one per window) is true."""
        return PanelWindows(self.X[mask], self.y[mask], self.index[mask], self.instrument[mask])

    def of(self, instrument: str) -> Windows:
        """One instrument's windows."""
        return Windows.select(self, self.instrument == instrument)


def panel_windows(
    features: Mapping[str, pd.DataFrame],
    targets: Mapping[str, pd.Series] | None,
    window: int,
    horizon: int = 1,
    *,
    values: Mapping[str, np.ndarray] | None = None,
) -> PanelWindows:
    """:func:`gatecast.data.make_windows` on each instrument's own rows, stacked: no window
    spans two instruments, and a target ``horizon`` rows after its window's last row is that
    instrument's row (its own next trading day, not the panel's next date).

    ``features`` (and ``targets``, ``values``) map each instrument to its own frame (series,
    array); every instrument needs the same feature columns, in the same order.
    """
    names = list(features)
    if not names:
        raise PanelError("no instruments to make windows of")
    columns = list(features[names[0]].columns)
    parts: list[Windows] = []
    for name in names:
        df = features[name]
        if list(df.columns) != columns:
            raise PanelError(
                f"instrument {name!r} has features {list(df.columns)}, {names[0]!r} has "
                f"{columns}; every instrument needs the same columns in the same order"
            )
        target = None if targets is None else targets[name]
        own = None if values is None else values[name]
        try:
            parts.append(make_windows(df, target, window, horizon, values=own))
        except (MissingValueError, TooFewRowsError) as exc:
            raise type(exc)(f"instrument {name!r}: {exc}") from exc
    return PanelWindows(
        X=np.concatenate([w.X for w in parts]),
        y=np.concatenate([w.y for w in parts]),
        index=pd.DatetimeIndex(np.concatenate([np.asarray(w.index) for w in parts])),
        instrument=np.repeat(np.array(names, dtype=object), [len(w) for w in parts]),
    )


def asof_join(
    frames: Mapping[str, pd.DataFrame | pd.Series | pd.Index],
    covariate: pd.Series | pd.DataFrame,
    *,
    max_age: str | pd.Timedelta | None = "7D",
) -> dict[str, pd.DataFrame]:
    """Join a covariate series onto each instrument's dates, using only values dated strictly
    before each row's date.

    An instrument's row dated t is the information a forecast made at t uses. Onto it goes the
    covariate's last row dated strictly before t (``merge_asof``, ``direction="backward"``,
    ``allow_exact_matches=False``) and no older than ``max_age``; a covariate value dated t
    itself is first used on the instrument's next row. A date carries no time of day, so a
    value stamped with the same date cannot be shown to be known at t (a VIX close and a stock
    close, or a European close and a US one): it waits one row, on purpose.

    Parameters
    ----------
    frames
        Each instrument's frame (or its dates), e.g. a :class:`Panel`.
    covariate
        A Series or DataFrame with a sorted, unique DatetimeIndex and no NaN.
    max_age
        The oldest a joined value may be (``"7D"``: a week, which spans long weekends and
        holidays); an older or missing one gives NaN, never the last value carried on for
        months (None: no limit).

    Returns
    -------
    ``{instrument: frame}``, each indexed by that instrument's dates, with the covariate's
    columns and ``asof_date``: the date of the covariate row used (NaT where none was).
    """
    cov = (
        covariate.to_frame(covariate.name or "covariate")
        if isinstance(covariate, pd.Series)
        else covariate.copy()
    )
    if not isinstance(cov.index, pd.DatetimeIndex):
        raise MissingDateColumnError("the covariate needs a DatetimeIndex of its dates")
    if cov.index.has_duplicates:
        day = cov.index[cov.index.duplicated()][0]
        raise DuplicateDatesError(f"the covariate has {_fmt_date(day)} twice; keep one row")
    k = _first_out_of_order(cov.index)
    if k is not None:
        raise UnsortedDatesError(
            f"the covariate is not sorted by date: {_fmt_date(cov.index[k])} comes after "
            f"{_fmt_date(cov.index[k - 1])}; sort it (covariate.sort_index())"
        )
    bad = first_flagged(~np.isfinite(cov.to_numpy(dtype=float)).all(axis=1))
    if bad is not None:
        k, count = bad
        raise MissingValueError(
            f"the covariate is NaN/inf on {_fmt_date(cov.index[k])} ({count} row(s)); "
            f"drop those rows first (covariate.dropna()): a gap is then bridged by max_age"
        )
    if "asof_date" in cov.columns:
        raise ConfigError("the covariate has a column 'asof_date'; rename it")
    tolerance = None if max_age is None else pd.Timedelta(max_age)
    right = cov.rename_axis("asof_date").reset_index()
    right["asof_date"] = right["asof_date"].astype("datetime64[ns]")
    right["_key"] = right["asof_date"]
    out: dict[str, pd.DataFrame] = {}
    for name, own in frames.items():
        dates = _dates(own)
        left = pd.DataFrame({"_key": pd.DatetimeIndex(dates).astype("datetime64[ns]")})
        joined = pd.merge_asof(
            left,
            right,
            on="_key",
            direction="backward",
            allow_exact_matches=False,  # a value dated t is not known at t
            tolerance=tolerance,
        )
        frame: pd.DataFrame = joined.drop(columns=["_key"])
        frame.index = pd.DatetimeIndex(dates, name="date")
        out[name] = frame[[*cov.columns, "asof_date"]]
    return out


def _dates(own: pd.DataFrame | pd.Series | pd.Index) -> pd.Index:
    """An instrument's dates, given its frame, its series or the dates themselves."""
    return own if isinstance(own, pd.Index) else own.index

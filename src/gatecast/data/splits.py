"""Chronological train / validation / test splits, by fraction or by date, with an optional gap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.sources import parse_date
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.types import check_number


@dataclass(frozen=True)
class Split:
    """Three disjoint, ordered sets of dates (train < val < test); ``gap`` dates are left out before
    val and before test (an embargo)."""

    train: pd.Index
    val: pd.Index
    test: pd.Index


def chronological_split(
    index: pd.Index,
    *,
    test_size: float | None = None,
    test_start: str | pd.Timestamp | None = None,
    val_size: float = 0.0,
    gap: int = 0,
    min_train: int = 1,
) -> Split:
    """Split ``index`` (sorted dates, or positions) in time order.

    Parameters
    ----------
    test_size
        The test part (the last rows): a fraction in (0, 1), or a count of rows (>= 1, as
        scikit-learn reads an integer). Ignored when ``test_start`` is given.
    test_start
        First date of the test part.
    val_size
        Fraction of the rows before the test part kept as a validation tail.
    gap
        Rows dropped before the validation part and before the test part (embargo).
    min_train
        Fewest training rows accepted.
    """
    n = len(index)
    if gap < 0:
        raise ConfigError(f"gap={gap}: must be >= 0")
    if not 0 <= val_size < 1:
        raise ConfigError(f"val_size={val_size}: must be in [0, 1)")
    if test_start is not None:
        ts = parse_date(test_start, "test_start")
        if not isinstance(index, pd.DatetimeIndex):
            raise ConfigError("test_start needs dates; this data has no dates, use test_size")
        n_pre = int(index.searchsorted(ts, side="left"))
        if n_pre >= n:
            raise ConfigError(
                f"test_start {ts.date()} is after the last date {index[-1].date()}; pick an earlier date"
            )
        if n_pre == 0:
            raise ConfigError(
                f"test_start {ts.date()} is on or before the first date {index[0].date()}; "
                f"nothing is left to train on"
            )
    else:
        size = 0.2 if test_size is None else test_size
        check_number(
            size, "test_size", above=0, hint="give a fraction in (0, 1) or a count of rows"
        )
        if size >= 1:  # a count of rows, as scikit-learn reads an integer
            if size != int(size) or size >= n:
                raise ConfigError(
                    f"test_size={size}: a count must be a whole number of rows below the {n} "
                    f"rows of the data (or give a fraction in (0, 1))"
                )
            n_pre = n - int(size)
        elif size > 0:
            n_pre = n - max(1, int(round(n * size)))
        else:
            raise ConfigError(f"test_size={size}: give a fraction in (0, 1) or a count of rows")
    # layout: [train][gap][val][gap][test]; the gaps exist only where both neighbours do
    usable_pre = n_pre - gap
    n_val = int(round(usable_pre * val_size)) if val_size > 0 else 0
    n_train = usable_pre - n_val - (gap if n_val else 0)
    if n_train < min_train:
        raise TooFewRowsError(
            f"only {max(n_train, 0)} training rows remain (need {min_train}) from {n} rows with "
            f"the test part, val_size={val_size} and gap={gap}; use more data or smaller parts"
        )
    train = index[:n_train]
    val = index[usable_pre - n_val : usable_pre]
    test = index[n_pre:]
    return Split(train=train, val=val, test=test)


def date_mask(index: pd.Index, start: Any = None, end: Any = None) -> np.ndarray:
    """Which entries of ``index`` lie in ``[start, end]`` (either may be None; dates are parsed
    for a DatetimeIndex, compared as they are for an integer index)."""
    keep = np.ones(len(index), dtype=bool)
    if start is not None:
        keep &= np.asarray(index >= _as_key(index, start))
    if end is not None:
        keep &= np.asarray(index <= _as_key(index, end))
    return keep


def clip_dates(s: pd.Series, start: Any = None, end: Any = None) -> pd.Series:
    """Keep the entries of ``s`` dated in ``[start, end]`` (either may be None)."""
    if start is None and end is None:
        return s
    return s.loc[date_mask(s.index, start, end)]


def _as_key(index: pd.Index, value: Any) -> Any:
    return parse_date(value, "start/end") if isinstance(index, pd.DatetimeIndex) else value

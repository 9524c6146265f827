"""The walk-forward's plan as plain values (`WalkForwardPlan`) and the folds it cuts a test
period into (`Fold`: one refit's training and test rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from gatecast.data.sources import parse_date
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.types import SCHEMES, Scheme, check_choice


@dataclass(frozen=True)
class Fold:
    """One refit: train on rows ``[train_start, train_stop)``, forecast rows ``[test_start, test_stop)``
    (positions in the data; ``gap`` rows between the two are left out)."""

    number: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int


@dataclass(frozen=True)
class WalkForwardPlan:
    """How the test period is cut into folds (plain values, recorded in the run folder).

    ``scheme``: ``expanding`` trains each fold on every row before it, ``rolling`` on the last
    ``train_size`` rows only.
    """

    test_start: str
    test_end: str | None = None
    refit_every: int = 21
    scheme: Scheme = "expanding"
    train_size: int | None = None
    gap: int = 0
    min_train: int = 250

    def __post_init__(self) -> None:
        check_choice(self.scheme, SCHEMES, "scheme")
        if self.refit_every < 1:
            raise ConfigError(f"refit_every={self.refit_every}: must be >= 1 (trading days)")
        if self.gap < 0:
            raise ConfigError(f"gap={self.gap}: must be >= 0")
        if self.scheme == "rolling" and (self.train_size is None or self.train_size < 2):
            raise ConfigError(
                f"train_size={self.train_size}: the rolling scheme needs train_size >= 2 (rows), "
                f"e.g. train_size=1000"
            )

    def train_rows(self, test_start: int) -> tuple[int, int]:
        """The training rows ``[train_start, train_stop)`` of a fold whose test starts at row
        ``test_start``: every row before it (``expanding``) or the last ``train_size``
        (``rolling``), less the ``gap`` rows just before the test."""
        train_stop = test_start - self.gap
        train_start = (
            0 if self.scheme == "expanding" else max(0, train_stop - int(self.train_size or 0))
        )
        return train_start, train_stop

    def folds(self, index: pd.Index) -> list[Fold]:
        """The folds over ``index`` (sorted dates)."""
        first = int(index.searchsorted(parse_date(self.test_start, "test_start")))
        stop = (
            len(index)
            if self.test_end is None
            else int(index.searchsorted(parse_date(self.test_end, "test_end"), side="right"))
        )
        if first >= stop:
            end = "the end of the data" if self.test_end is None else f"test_end {self.test_end}"
            raise ConfigError(
                f"no dates between test_start {self.test_start} and {end} (data runs "
                f"{_day(index[0])} to {_day(index[-1])}); pick dates inside the data"
            )
        folds = []
        for k, s in enumerate(range(first, stop, self.refit_every)):
            train_start, train_stop = self.train_rows(s)
            if train_stop - train_start < self.min_train:
                raise TooFewRowsError(
                    f"fold {k} (test from {index[s]}) has {max(train_stop - train_start, 0)} training "
                    f"rows, fewer than min_train={self.min_train}; start the test later or lower min_train"
                )
            folds.append(Fold(k, train_start, train_stop, s, min(s + self.refit_every, stop)))
        return folds


def _day(value: Any) -> str:
    """A date as YYYY-MM-DD (with the time where it has one), anything else as it is."""
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    return str(value)

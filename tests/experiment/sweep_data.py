"""Shared by the sweep tests: a price file and a small sweep on it (tiny nets, a few folds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.experiment.sweep import SweepConfig

#: tiny nets and few epochs: each trial is a walk-forward of a second or a few
TINY = {"epochs": 2, "warm_epochs": 1, "hidden": 4, "batch_size": 64}


def write_prices(df: pd.DataFrame, path: Path) -> str:
    """``df``'s close column as a CSV price file (what ``--data`` reads); its path."""
    df = df[["close"]].copy()
    df.index.name = "date"
    df.to_csv(path)
    return str(path)


def sweep_config(
    data: str,
    out: Path,
    prices: pd.DataFrame,
    *,
    select_row: int,
    test_row: int,
    **kw: Any,
) -> SweepConfig:
    """A serial grid sweep over window 5 and 10 on ``data``, selecting from ``prices``'s row
    ``select_row`` and testing from row ``test_row``, refit every 75 rows; ``kw`` overrides any
    setting."""
    base: dict[str, Any] = {
        "out": str(out),
        "data": data,
        "test_start": str(prices.index[test_row].date()),
        "select_start": str(prices.index[select_row].date()),
        "refit_every": 75,
        "grid": {"window": (5, 10)},
        "fixed": TINY,
        "executor": "serial",
    }
    return SweepConfig(**(base | kw))

"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def csv(tmp_path: Path, small_panel, long_csv) -> Path:
    """The panel commands' long CSV (a test module may override it with its own panel): two
    instruments on their own calendars (BBB misses five days), 320 business days."""
    frames = small_panel({"AAA": 1.0, "BBB": 2.0}, 320, missing={"BBB": (100, 105)})
    path: Path = long_csv(frames, tmp_path / "long.csv")
    return path


@pytest.fixture
def panel_csv(tmp_path: Path, small_panel, long_csv) -> Callable[..., Path]:
    """``panel_csv(days, seed=0, names="AAA,BBB")``: ``tmp_path / "long.csv"``, the long CSV of
    a random-walk panel on one calendar of ``days`` business days from 2010-01-01, AAA at 1 and
    BBB at 2 percent a day (the first of them only where ``names`` is ``"AAA"``), drawn from one
    generator of ``seed`` instrument after instrument."""

    def make(days: int, seed: int = 0, names: str = "AAA,BBB") -> Path:
        vols = {"AAA": 1.0, "BBB": 2.0}
        frames = small_panel({n: vols[n] for n in names.split(",")}, days, seed=seed)
        path: Path = long_csv(frames, tmp_path / "long.csv")
        return path

    return make

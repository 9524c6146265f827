"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def csv(tmp_path: Path, small_panel, long_csv) -> Path:
    """The panel commands' long CSV (a test module may override it with its own panel): two
    instruments on their own calendars (BBB misses five days), 320 business days."""
    frames = small_panel({"AAA": 1.0, "BBB": 2.0}, 320, missing={"BBB": (100, 105)})
    path: Path = long_csv(frames, tmp_path / "long.csv")
    return path

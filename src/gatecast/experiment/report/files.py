"""Reading a run folder's files for the page: JSON objects and CSV tables, named in every error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.errors import ReportError


def read_json(folder: Path, name: str) -> dict[str, Any]:
    """The JSON object in ``folder/name``; a :class:`ReportError` naming the file if it is missing,
    not JSON or not an object."""
    path = folder / name
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportError(f"{path} is missing; the run folder {folder} is incomplete") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}); was it edited by hand?") from exc
    if not isinstance(loaded, dict):
        raise ReportError(f"{path} holds a {type(loaded).__name__}, not a JSON object")
    return loaded


def read_csv(folder: Path, name: str, *, index: str | None = None) -> pd.DataFrame:
    """The table in ``folder/name``, indexed by ``index`` (default: its first column; dates parsed)."""
    frame: pd.DataFrame = pd.read_csv(folder / name)
    key = index or str(frame.columns[0])
    frame = frame.set_index(key)
    if key == "date":
        frame.index = pd.to_datetime(frame.index)
    return frame


def source_files(folder: Path) -> list[str]:
    """The run's data files the page is drawn from (named in its footer)."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".json", ".csv", ".parquet") and not p.name.startswith(".")
    )

"""What the page says about a run besides its numbers: the data it read, the versions, model labels."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from gatecast.artifacts import array_hash
from gatecast.errors import GatecastError
from gatecast.experiment.registry import label
from gatecast.experiment.report.formatting import count, day

#: Packages whose versions the header lists (besides Python and gatecast).
PACKAGES = ("numpy", "pandas", "torch", "arch", "statsmodels", "scipy", "matplotlib")


def data_facts(name: str, **read: Any) -> tuple[str, str]:
    """ "<name>: <rows> rows, <first> .. <last>, sha256 <hash of prices and dates>" as the run
    read it, and a note when it cannot be read now."""
    from gatecast.data.sources import load

    try:
        df = load(name, **read)
    except (GatecastError, OSError) as exc:
        return name, f"The data {name} could not be read for this page ({exc}); no hash shown."
    digest = array_hash(df.to_numpy(dtype=float), np.asarray(df.index.astype("int64")))
    return (
        f"{name}: {count(len(df))} rows, {day(df.index[0])} .. {day(df.index[-1])}, "
        f"columns {', '.join(map(str, df.columns))}; sha256 of the prices and dates {digest}",
        "",
    )


def versions(recorded: Mapping[str, Any]) -> str:
    """Python's and the packages' versions (the run's own, from its manifest, where it has them)."""
    found = {"python": platform.python_version(), "gatecast": version("gatecast")}
    found |= {p: version(p) for p in PACKAGES}
    found |= {str(k): str(v) for k, v in recorded.items()}
    return ", ".join(f"{k} {v}" for k, v in found.items())


def version(package: str) -> str:
    """The installed version of ``package``, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def row_label(name: str, metrics: Mapping[str, Any]) -> str:
    """A model's row on the page: its label, and its name where the two differ ("LSTM (lstm_2)")."""
    shown = str(metrics.get("labels", {}).get(name) or label(name))
    return shown if shown == name else f"{shown} ({name})"


def run_notes(metrics: Mapping[str, Any], data_note: str, dropped: str) -> list[str]:
    """The notes under a run's tables: those the run recorded, the data's, and how many rows
    were dropped (``"{n} row(s) with " + dropped``) where any were."""
    notes = [str(n) for n in metrics.get("notes", [])] + [data_note]
    if metrics.get("dropped_rows"):
        notes.append(f"{metrics['dropped_rows']} row(s) with {dropped}")
    return notes


def data_title(name: object) -> str:
    """The data as a page's title names it: a bundled dataset by what it is and its name ("S&P
    500 index (sp500)"), a file by its file name (not the folders above it), prices passed in
    by their label ("DataFrame (1006 rows, ...)")."""
    from gatecast.data.sources import BUNDLED, is_frame_label

    text = str(name)
    if text in BUNDLED:
        return f"{BUNDLED[text].description.split(',')[0]} ({text})"
    if is_frame_label(text) or not text:
        return text
    return PurePath(text).name or text


def command_facts(folder: Path) -> list[tuple[str, str]]:
    """The page's "Command" line: the command line ``run.json`` records as it was typed (or that
    the run was made from Python); nothing for a folder whose record predates it."""
    from gatecast.experiment.report.files import read_json
    from gatecast.experiment.report.rerun import recorded_command

    if not (folder / "run.json").is_file():
        return []
    typed, _ = recorded_command(read_json(folder, "run.json"))
    return [("Command", typed)] if typed else []


def closing_facts(folder: Path, recorded: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """A run page's last facts: the command as typed (:func:`command_facts`) and the versions
    (``recorded``: the run's own, from its manifest, where it has them)."""
    return [*command_facts(folder), ("Versions", versions(recorded or {}))]

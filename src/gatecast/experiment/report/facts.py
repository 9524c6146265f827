"""What the page says about a run besides its numbers: the data it read, the versions, model labels."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
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

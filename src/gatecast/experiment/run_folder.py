"""The run folder that `gatecast train` and `gatecast evaluate` write: every file atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gatecast.artifacts import atomic_write_bytes, atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class RunFolder:
    """One run's output folder; each file is written to a temporary name and then renamed, so a
    killed run never leaves a half-written file behind.

    Examples
    --------
    >>> folder = RunFolder(tmp_path / "run")  # doctest: +SKIP
    >>> folder.write_json("metrics.json", {"n_dates": 1006})  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def write_json(self, name: str, obj: Any) -> Path:
        """``obj`` as JSON (NaN as null, dates as ISO strings)."""
        atomic_write_json(self.path / name, obj)
        return self.path / name

    def write_config(self, config: dict[str, Any], name: str = "config.json") -> Path:
        """The settings the run was made with (plain values)."""
        return self.write_json(name, config)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """``metrics.json``."""
        return self.write_json("metrics.json", metrics)

    def write_csv(self, name: str, frame: pd.DataFrame, **to_csv: Any) -> Path:
        """``frame`` as CSV (``to_csv`` keywords such as ``float_format`` are passed on)."""
        atomic_write_text(self.path / name, frame.to_csv(**to_csv))
        return self.path / name

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        """``frame`` as Parquet."""
        buf = io.BytesIO()
        frame.to_parquet(buf)
        atomic_write_bytes(self.path / name, buf.getvalue())
        return self.path / name

    def write_figure(self, name: str, fig: Figure, *, dpi: int = 110) -> Path:
        """``fig`` as PNG; the figure is closed."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        atomic_write_bytes(self.path / name, buf.getvalue())
        return self.path / name

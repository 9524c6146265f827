"""The run folder that `gatecast train` and `gatecast evaluate` write: every file atomically."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gatecast.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    current_umask,
)
from gatecast.errors import ConfigError

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

    def write_text(self, name: str, text: str) -> Path:
        """``text`` as UTF-8 (a page such as ``report.html``)."""
        atomic_write_text(self.path / name, text)
        return self.path / name

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


def check_out_folder(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """``out`` as a Path if a run may be written there: absent, empty, or (``overwrite``) a
    folder whose files the run replaces; else a :class:`ConfigError` before any work is done."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file, not a folder; pass a folder name")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        names = sorted(p.name for p in path.iterdir())
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise ConfigError(
            f"--out {path} already holds files ({shown}); pass --overwrite to replace them "
            f"with this run, or choose a new folder"
        )
    return path


@contextmanager
def staged_folder(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write a run into; on leaving the ``with`` block
    normally it is renamed to ``out`` (with ``overwrite``, the old ``out`` is swapped out and
    removed), on an error it is removed. A reader of ``out`` sees one whole run or none: never
    one run's model beside another's config, and two runs into one folder never mix (the second
    is refused unless ``overwrite``, then it replaces the first whole)."""
    path = check_out_folder(out, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; honour the umask
        yield tmp
        _swap_in(tmp, path, overwrite=overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, path: Path, *, overwrite: bool) -> None:
    try:
        os.rename(tmp, path)  # atomic; replaces an empty folder, fails on one with files
        return
    except OSError:
        if not (path.is_dir() and any(path.iterdir())):
            raise
    if not overwrite:
        raise ConfigError(
            f"--out {path} was filled by another run while this one trained; this run is "
            f"not written (pass --overwrite to replace it, or choose a new folder)"
        )
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.rename(path, old / path.name)
    try:
        os.rename(tmp, path)
    except OSError:
        os.rename(old / path.name, path)  # put the previous run back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def check_not_input(out: str | os.PathLike[str], inputs: dict[str, Any]) -> None:
    """Refuse an output path that is one of the command's inputs (``{"--data": path, ...}``),
    or lies inside an input folder: ``predict --out`` must never overwrite its data or model."""
    target = Path(out).resolve()
    for option, value in inputs.items():
        if value is None:
            continue
        source = Path(os.fspath(value))
        if not source.exists():
            continue
        source = source.resolve()
        if target == source or (source.is_dir() and source in target.parents):
            raise ConfigError(
                f"--out {out} would overwrite {option} {value}; write the output elsewhere"
            )

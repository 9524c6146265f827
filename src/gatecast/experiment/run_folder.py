"""Run folders: every file written atomically, a ``run.json`` record of what the folder holds, and
the one rule for ``--out`` (a new or empty folder, or an earlier run with --overwrite / --resume;
never a file, a device or a folder of someone else's files)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from gatecast.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    current_umask,
    describe_path,
    writable_file,
)
from gatecast.data.sources import data_identity, data_label, is_frame
from gatecast.errors import ConfigError, GatecastError
from gatecast.experiment.command import current_command

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


#: The record every run folder holds from its first write: the kind of run, whether it finished,
#: the format version, and the run's settings (``run.json``).
RUN_RECORD = "run.json"
RUN_FORMAT_VERSION = 1
#: Files that mark a folder written by a gatecast version older than ``run.json``.
_EARLIER_RUN_FILES = (
    "metrics.json",  # train, evaluate, demo
    "manifest.json",  # a model folder
    "pbo.json",  # backtest
    "var_backtest.json",  # var
    "sweep.json",  # sweep
    "blocks.json",  # evaluate --blocks
    "gradient_flow.json",  # gradient-flow
    "folds",  # a walk-forward, finished or not
    "evaluation/folds",  # the walk-forward of a backtest or a var run
)
RunStatus = Literal["running", "finished"]


def read_run_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``run.json`` of a run folder, or None where there is none (or it is unreadable)."""
    try:
        record = json.loads((Path(path) / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_run_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder that gatecast wrote a run into (``run.json``, or a file that
    an earlier version's runs leave)."""
    path = Path(path)
    return (path / RUN_RECORD).is_file() or any((path / f).exists() for f in _EARLIER_RUN_FILES)


def check_out_folder(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    resume: bool = False,
    kind: str | None = None,
) -> Path:
    """``out`` as a Path if a run may be written there, else a :class:`ConfigError` before any
    work is done.

    Accepted: a path that does not exist, an empty folder, or a gatecast run folder with
    ``overwrite`` (the run is replaced whole) or, for a run that can be continued, ``resume`` (a
    run of the same ``kind``: its finished folds or trials are reused). Refused whatever the
    flags: a path that is not a folder (a regular file, a device such as /dev/null, a FIFO, a
    socket), and a folder that holds files gatecast did not write (they are never deleted).
    """
    path = Path(out)
    if overwrite and resume:
        raise ConfigError("--overwrite starts the run afresh, --resume continues it: pass one")
    if not path.exists():
        if path.is_symlink():
            raise ConfigError(f"--out {path} is a broken symbolic link; pass a folder name")
        if resume:
            raise ConfigError(
                f"--resume: --out {path} does not exist, so there is no run to resume"
            )
        return path
    if not path.is_dir():
        raise ConfigError(
            f"--out {path} is {describe_path(path)}, not a folder: a run is written as a folder "
            f"of files; pass a new folder name"
        )
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return path
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    if not is_run_folder(path):
        raise ConfigError(
            f"--out {path} already holds files that are not a gatecast run ({shown}); gatecast "
            f"never deletes files it did not write: choose a new or an empty folder"
        )
    record = read_run_record(path) or {}
    was = str(record.get("kind", "earlier"))
    state = "an unfinished" if record.get("status") == "running" else "a finished"
    if resume:
        if kind is not None and record.get("kind", kind) != kind:
            raise ConfigError(
                f"--resume: --out {path} holds {state} {was} run, not a {kind} run; choose "
                f"another folder, or pass --overwrite to replace it"
            )
        return path
    if not overwrite:
        can_resume = " to continue it, or --overwrite to start afresh" if kind in RESUMABLE else ""
        flag = "--resume" if can_resume else "--overwrite"
        raise ConfigError(
            f"--out {path} already holds {state} {was} run ({shown}); pass {flag}"
            f"{can_resume or ' to replace it'}, or choose a new folder"
        )
    return path


def check_out_file(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """``out`` as a Path if one output file may be written there: a new path, or (``overwrite``)
    an existing regular file; a device, a FIFO or a folder is refused whatever the flag (the
    atomic rename would replace it)."""
    path = writable_file(out)
    if path.exists() and not overwrite:
        raise ConfigError(
            f"--out {out} already exists; pass --overwrite to replace it, or choose a new file"
        )
    return Path(out)


def record_data(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Add the identity of the data (:func:`~gatecast.data.sources.data_identity`) to the
    ``run.json`` of a run under way, for a run that reads its data after the folder is made."""
    record = read_run_record(path)
    if record is not None:
        atomic_write_json(Path(path) / RUN_RECORD, record | {"data": data})


#: The kinds of run that can be continued with ``resume`` (their walk-forwards keep finished
#: folds and trials in the folder).
RESUMABLE = (
    "evaluate",
    "panel-evaluate",
    "panel-backtest",
    "panel-var",
    "blocks",
    "backtest",
    "var",
    "sweep",
    "panel-sweep",
)


def settings_record(cfg: Any) -> dict[str, Any]:
    """A job config's settings as plain values for a run's files: prices passed in as a
    DataFrame (or Series, Arrow table) are named by :func:`~gatecast.data.sources.data_label`
    ("DataFrame (1006 rows, 2015-01-02..2018-12-31)"), never written whole."""
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    for name, value in values.items():
        if is_frame(value):
            values[name] = data_label(value)
    plain: dict[str, Any] = json.loads(json.dumps(values, default=_plain_default))
    return plain


def _plain_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item"):  # a NumPy scalar
        return obj.item()
    return repr(obj)


def write_run_record(
    path: Path,
    kind: str,
    status: RunStatus,
    config: Any = None,
    started: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``path/run.json`` (atomically): the kind of run, its status, the format version,
    when it started (and finished), the command line that made it (``command``: the arguments
    as a list, from the CLI; null for a run made from Python) and its settings."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "kind": kind,
        "status": status,
        "format_version": RUN_FORMAT_VERSION,
        "started": started or now,
        "command": current_command(),
    }
    if status == "finished":
        record["finished"] = now
    if config is not None:
        record["config"] = config
    if data is not None:
        record["data"] = data
    atomic_write_json(path / RUN_RECORD, record)
    return record


@contextmanager
def run_output(
    out: str | os.PathLike[str],
    kind: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
    config: Any = None,
    data: dict[str, Any] | None = None,
) -> Iterator[Path]:
    """The run folder ``out`` of a run that writes as it goes (a walk-forward that can be
    resumed), for the ``with`` block.

    Checked as :func:`check_out_folder` checks it; ``overwrite`` empties an earlier run first.
    ``run.json`` (the kind, ``config``, the ``data`` identity) says "running" from the start and "finished" when the block ends normally. On
    a :class:`GatecastError` in the block (a refusal), the folder is removed if this call made
    it or emptied it, so a refused command leaves nothing in ``out``; a resumed run keeps what
    it had. A run killed or interrupted keeps its folder, to be resumed.
    """
    path = check_out_folder(out, overwrite=overwrite, resume=resume, kind=kind)
    fresh = not path.exists() or not any(path.iterdir())
    if overwrite and not fresh:
        for child in path.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        fresh = True
    made = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    earlier = read_run_record(path) if not fresh else None
    started = str(earlier["started"]) if earlier and "started" in earlier else None
    write_run_record(path, kind, "running", config, started, data)
    try:
        yield path
    except GatecastError:
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
            if not made:
                path.mkdir(exist_ok=True)  # the empty folder the user gave stays
        elif earlier is not None:
            atomic_write_json(path / RUN_RECORD, earlier)  # a refused resume changes nothing
        raise
    if data is None:  # recorded along the way (record_data), once the data was read
        data = (read_run_record(path) or {}).get("data")
    write_run_record(path, kind, "finished", config, started, data)


def job_output(cfg: Any, kind: str, df: pd.DataFrame, **extra: Any) -> AbstractContextManager[Path]:
    """:func:`run_output` for a job config (``out``, ``overwrite``, ``resume``, ``data``): its
    ``run.json`` records the config's settings (and the ``extra`` ones) and the data's identity."""
    return run_output(
        cfg.out,
        kind,
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        config=settings_record(cfg) | extra,
        data=data_identity(cfg.data, df),
    )


@contextmanager
def staged_folder(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    kind: str = "run",
    config: Any = None,
    data: dict[str, Any] | None = None,
) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write a run into; on leaving the ``with`` block
    normally its ``run.json`` is written and it is renamed to ``out`` (with ``overwrite``, the
    old ``out`` is swapped out and removed), on an error it is removed. A reader of ``out`` sees
    one whole run or none: never one run's model beside another's config, and two runs into one
    folder never mix (the second is refused unless ``overwrite``, then it replaces the first
    whole)."""
    path = check_out_folder(out, overwrite=overwrite, kind=kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; honour the umask
        started = write_run_record(tmp, kind, "running", config, data=data)["started"]
        yield tmp
        write_run_record(tmp, kind, "finished", config, started, data)
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
        if value is None or not isinstance(value, str | os.PathLike):
            continue  # prices passed in (a frame, a panel's mapping) are no file to overwrite
        source = Path(os.fspath(value))
        if not source.exists():
            continue
        source = source.resolve()
        if target == source or (source.is_dir() and source in target.parents):
            raise ConfigError(
                f"--out {out} would overwrite {option} {value}; write the output elsewhere"
            )

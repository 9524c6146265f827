"""Atomic file writes (temp + rename), the path checks before a write, JSON of NumPy values."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.errors import ConfigError


def current_umask() -> int:
    """The process umask (it can only be read by setting it, so it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` under the current umask (0o644 under 022)."""
    return 0o666 & ~current_umask()


def describe_path(path: Path) -> str:
    """What ``path`` is, in words: "a folder", "a regular file", "a character device"..."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "missing"
    for test, words in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "neither a regular file nor a folder"


def writable_file(path: str | os.PathLike[str]) -> Path:
    """The file an atomic write of ``path`` replaces: ``path`` itself, or the file a symbolic
    link points to; a :class:`ConfigError` where that exists and is not a regular file (a device
    such as /dev/null, a FIFO, a folder): the rename would replace it with a regular file."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # write through the link, never over it
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"{path} is {describe_path(path)}, not a regular file; gatecast writes a file by "
            f"renaming a finished copy over it, which would replace it: give the path of a "
            f"regular file"
        )
    return path


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """Write `payload` to `path` through a temporary file in the same folder and a rename (a
    path that is a device, a FIFO or a folder is refused, never replaced)."""
    path = writable_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; a written file honours the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write an object as indented JSON atomically; NaN and infinities become null (JSON has no
    NaN), NumPy scalars and arrays become plain numbers and lists."""
    text = json.dumps(_plain(obj), indent=2, allow_nan=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")

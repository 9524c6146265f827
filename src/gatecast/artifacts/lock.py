"""The lock that keeps two processes off one stream-state file, naming who holds it."""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gatecast.errors import ConfigError, StateInUseError


@contextmanager
def locked(
    path: str | os.PathLike[str],
    what: str = "file",
    *,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (through ``<path>.lock``, beside the file a symlink
    points to) for the ``with`` block. The holder writes who it is into the lock file (pid,
    host, since when); another process that finds the lock held raises
    :class:`StateInUseError` naming them, at once or after waiting up to ``wait`` seconds
    (``on_wait`` is told whom it waits for when it starts waiting). POSIX only; elsewhere
    nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    if not (math.isfinite(wait) and wait >= 0):
        raise ConfigError(f"wait={wait}: a number of seconds >= 0")
    lock = Path(f"{os.path.realpath(path)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                holder = _lock_holder(lock)
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise StateInUseError(
                        f"{what} {os.fspath(path)} is in use by another process{waited}: "
                        f"{holder} (lock file {lock}); stop that process, wait for it (--wait "
                        f"SECONDS), or give this one its own file"
                    ) from None
                if on_wait is not None and not told:
                    on_wait(f"{what} {os.fspath(path)} is in use: {holder}")
                    told = True
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        _write_holder(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_holder(fd: int) -> None:
    """Who holds the lock, for the next process that finds it held."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    doc = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(doc) + "\n").encode(), 0)


def _lock_holder(lock: Path) -> str:
    """ "held by pid 123 on host h since ..." from a lock file, or what can be said without it."""
    for _ in range(5):  # the holder may be writing it this very moment
        try:
            with lock.open("rb") as fh:
                doc = json.loads(fh.read(4096))
            return f"held by pid {doc['pid']} on host {doc['host']} since {doc['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.01)
    return "held by a process that did not say who it is"

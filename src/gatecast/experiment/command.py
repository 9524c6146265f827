"""The command line of the command under way, which every ``run.json`` written during it
records (standard library only, so the CLI sets it without loading pandas)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

#: ``["gatecast", "backtest", ...]``, set by the CLI around each command; None for a run made
#: from Python, whose call is not recorded.
_COMMAND: ContextVar[list[str] | None] = ContextVar("gatecast_command", default=None)


@contextmanager
def command_line(argv: Sequence[str]) -> Iterator[None]:
    """Within the ``with`` block, every ``run.json`` written records ``argv`` as the command
    that made its run (the CLI wraps each command in it)."""
    token = _COMMAND.set([str(a) for a in argv])
    try:
        yield
    finally:
        _COMMAND.reset(token)


def current_command() -> list[str] | None:
    """The command line set by :func:`command_line`, or None outside one (a run from Python)."""
    return _COMMAND.get()

"""`gatecast stream`: serve a saved model on rows of observations as they arrive."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import typer

from gatecast.cli.stream_rows import stream_lines
from gatecast.cli.train_commands import REQUIRE_SIGNATURE, SIGNING_KEY
from gatecast.errors import ConfigError, DataFileError

app = typer.Typer()


@app.command()
def stream(
    model: Path = typer.Option(..., help="A model folder written by `gatecast train`."),
    input: str = typer.Option(
        "-", "--input", help="File of observations, or - for stdin (read as rows arrive)."
    ),
    format: str = typer.Option(
        "csv", "--format", help="csv (header row; date column optional) or jsonl."
    ),
    columns: str | None = typer.Option(
        None,
        help="Names of the fields of header-less CSV input, e.g. date,close (for `tail -f`).",
    ),
    engine: str = typer.Option("numpy", help="numpy (no torch imported) or torch."),
    state: Path | None = typer.Option(
        None,
        help="Resume from this state file if it exists; save the state to it at the end. "
        "Locked while the stream runs.",
    ),
    allow_replay: bool = typer.Option(
        False,
        "--allow-replay",
        help="Accept rows dated at or before the last row consumed (a deliberate replay).",
    ),
    signing_key: Path | None = typer.Option(None, help=SIGNING_KEY),
    require_signature: bool = typer.Option(False, "--require-signature", help=REQUIRE_SIGNATURE),
) -> None:
    """Forecast one step ahead for every new row; one line out per row, flushed at once.

    A malformed, undecodable, absurd or replayed row gets an error on stderr naming its line and
    the stream goes on; a closed output pipe ends the stream quietly.
    """
    # imported here, not at the top: `--engine numpy` serves without loading torch
    from gatecast.artifacts import locked
    from gatecast.models.recurrent import open_stream

    if format not in ("csv", "jsonl"):
        raise ConfigError(f"--format {format!r} is unknown; use csv or jsonl")
    if columns is not None and format != "csv":
        raise ConfigError("--columns names CSV fields; jsonl rows name their own")
    if state is not None and state.exists() and not state.is_file():
        raise ConfigError(f"--state {state} is a folder; give a file such as spx.state.json")
    names = [c for c in columns.split(",")] if columns is not None else None
    live = open_stream(
        model,
        engine=engine,
        signing_key=signing_key,
        require_signature=require_signature or None,  # not given: the environment decides
    )
    live.allow_replay = allow_replay
    with locked(state, "stream state") if state is not None else contextlib.nullcontext():
        if state is not None and state.is_file():
            live.load_state(state)
        with _rows(input) as source:
            bad, closed = _serve(live, source, format, names)
        if state is not None:
            live.save_state(state)
    if closed:
        _silence_stdout()  # the reader went away (e.g. `| head`): nothing more to say
        return
    if bad:
        sys.stderr.write(f"{bad} malformed row(s) skipped\n")


@contextlib.contextmanager
def _rows(input: str) -> Iterator[Iterator[bytes]]:
    """The input's lines as bytes, one at a time as they arrive (decoded row by row later, so
    one bad byte costs one row)."""
    if input == "-":
        stdin: Any = sys.stdin
        source: IO[bytes] = getattr(stdin, "buffer", stdin)
        yield iter(source.readline, b"")
        return
    try:
        fh = open(input, "rb")
    except OSError as exc:
        raise DataFileError(
            f"cannot read --input {input}: {exc.strerror}; give a readable file or - for stdin"
        ) from exc
    try:
        yield iter(fh.readline, b"")
    finally:
        fh.close()


def _serve(
    live: Any, lines: Iterator[bytes], fmt: str, columns: list[str] | None
) -> tuple[int, bool]:
    """Answer every row; (rows refused, whether the output pipe was closed)."""
    out, err = sys.stdout, sys.stderr
    bad = 0
    try:
        out.write("date,forecast\n" if fmt == "csv" else "")
        out.flush()
        for row in stream_lines(live, lines, fmt, columns):
            if row.error is not None:
                bad += 1
                err.write(f"error: {row.error}\n")
                err.flush()
                continue
            out.write((row.csv() if fmt == "csv" else row.jsonl()) + "\n")
            out.flush()
    except BrokenPipeError:
        return bad, True
    return bad, False


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # no real file descriptor (e.g. under a test runner): nothing to silence

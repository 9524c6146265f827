"""`gatecast stream`: serve a saved model on rows of observations as they arrive."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import typer

from gatecast.cli import options
from gatecast.cli.panel_rows import PANEL_OUTPUT_COLUMNS, PanelRows
from gatecast.cli.stream_rows import OUTPUT_COLUMNS, RowReader, SeriesRows
from gatecast.errors import ConfigError, DataFileError

app = typer.Typer()

#: Checkpoint defaults: a `kill -9` loses at most this many rows, or this many seconds of rows.
CHECKPOINT_ROWS = 1000
CHECKPOINT_SECONDS = 10.0


@app.command()
def stream(
    model: Path = options.MODEL_FOLDER,
    input: str = typer.Option(
        "-", "--input", help="File of observations, or - for stdin (read as rows arrive)."
    ),
    format: str = typer.Option(
        "csv", "--format", help="csv (header row; date column optional) or jsonl."
    ),
    columns: str | None = options.optional(
        help="Names of the fields of header-less CSV input, e.g. date,close (for `tail -f`).",
    ),
    engine: str = typer.Option("numpy", help="numpy (no torch imported) or torch."),
    state: Path | None = options.optional(
        help="Resume from this state file if it exists; save the state to it at checkpoints "
        "and at the end. Locked while the stream runs.",
    ),
    allow_replay: bool = typer.Option(
        False,
        "--allow-replay",
        help="Accept rows dated at or before the last row consumed (a deliberate replay).",
    ),
    signing_key: Path | None = options.SIGNING_KEY,
    require_signature: bool = options.REQUIRE_SIGNATURE,
    calendar: str | None = options.MODEL_CALENDAR,
    max_gap: int | None = options.optional(
        help="Missing bars a dated row may skip; one that skips more is refused (default 5, "
        "a trading week of daily bars).",
    ),
    max_ahead: str | None = options.optional(
        help="How far past the current UTC time a row may be dated, e.g. 2D, 36h (default 2D).",
    ),
    checkpoint_rows: int | None = options.optional(
        help=f"With --state: save it every N rows taken, 0 = off (default {CHECKPOINT_ROWS}).",
    ),
    checkpoint_seconds: float | None = options.optional(
        help="With --state: save it this many seconds after a row taken, 0 = off (default "
        f"{CHECKPOINT_SECONDS:g}).",
    ),
    interval: float | None = options.INTERVAL,
    quantiles: str | None = options.QUANTILES,
    wait: float | None = options.optional(
        help="With --state: wait up to this many seconds for another stream to release it "
        "(default 0: refuse at once, naming the process that holds it).",
    ),
    history: Path | None = options.optional(
        help="Global model: a panel file (long date,instrument,close or wide) of the past rows "
        "of instruments it was not fit on, at least its min_history rows each: their scalers "
        "fit on them and their streams warmed with them before the input's rows.",
    ),
) -> None:
    """Forecast one step ahead for every new row; one line out per row, flushed at once:
    date,forecast,as_of,forecast_for (the row's date, the forecast, the date of the last
    observation it used, the bar it is for).

    A malformed, undecodable, absurd, replayed or too-far-ahead row gets an error on stderr
    naming its line and the stream goes on; a row that skips bars within --max-gap gets a note.
    A closed output pipe ends the stream quietly. See docs/streaming.md.
    """
    # imported here, not at the top: `--engine numpy` serves without loading torch
    from gatecast.artifacts import locked
    from gatecast.data.calendar import override_calendar
    from gatecast.experiment.panel_serving import global_folder, open_panel_stream
    from gatecast.experiment.panel_stream_history import (
        read_stream_history,
        warm_new_instruments,
    )
    from gatecast.models.recurrent import open_stream
    from gatecast.serve.stream import MAX_AHEAD, MAX_GAP

    if format not in ("csv", "jsonl"):
        raise ConfigError(f"--format {format!r} is unknown; use csv or jsonl")
    if columns is not None and format != "csv":
        raise ConfigError("--columns names CSV fields; jsonl rows name their own")
    if state is not None and state.exists() and not state.is_file():
        raise ConfigError(
            f"--state {state} is a folder or a device, not a file; give a file such as "
            f"spx.state.json"
        )
    given = {
        "--checkpoint-rows": checkpoint_rows,
        "--checkpoint-seconds": checkpoint_seconds,
        "--wait": wait,
    }
    needless = [name for name, value in given.items() if value is not None]
    if state is None and needless:
        raise ConfigError(f"{', '.join(needless)} apply to a --state file; give --state FILE")
    gap = MAX_GAP if max_gap is None else max_gap
    if gap < 0:
        raise ConfigError(f"--max-gap {gap}: a number of bars >= 0")
    ahead = MAX_AHEAD if max_ahead is None else _duration(max_ahead)
    every = CHECKPOINT_ROWS if checkpoint_rows is None else checkpoint_rows
    seconds = CHECKPOINT_SECONDS if checkpoint_seconds is None else checkpoint_seconds
    if every < 0:
        raise ConfigError(f"--checkpoint-rows {every}: a number of rows >= 0 (0 = off)")
    for name, value in (("--checkpoint-seconds", seconds), ("--wait", wait or 0.0)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} {value}: a number of seconds >= 0")
    names = [c for c in columns.split(",")] if columns is not None else None
    taus = options.float_list(quantiles, "--quantiles")
    panel = global_folder(model)  # a global model: long rows, a StreamSet (cli/panel_rows.py)
    if panel and (interval is not None or taus):
        raise ConfigError(
            f"{'--interval' if interval is not None else '--quantiles'} does not apply to a "
            "global model over a panel: its StreamSet has no intervals yet; leave it out"
        )
    if history is not None and not panel:
        raise ConfigError(
            f"--history applies to a global model over a panel (its new instruments' past "
            f"rows); {model} holds a model of one series: feed its past rows to the stream"
        )
    past = read_stream_history(history) if history is not None else None
    live: Any = (
        open_panel_stream(
            model,
            engine=engine,
            signing_key=signing_key,
            require_signature=require_signature or None,
            history=past,
        )
        if panel
        else open_stream(
            model,
            engine=engine,
            signing_key=signing_key,
            require_signature=require_signature or None,  # not given: the environment decides
            interval=interval,
            quantiles=taus,
        )
    )
    live.allow_replay = allow_replay
    live.max_gap, live.max_ahead = gap, ahead
    if calendar is not None:
        live.calendar = override_calendar(live.calendar, calendar)
    err = sys.stderr
    if live.calendar is None or not live.calendar.dated:
        err.write(
            "note: the model records no calendar, so dated rows are checked against the clock "
            "only; pass --calendar (XNYS, data, ...) to check them against the next bar\n"
        )

    def waiting(who: str) -> None:
        err.write(f"waiting up to {wait:g} s: {who}\n")
        err.flush()

    hold = (
        locked(state, "stream state", wait=wait or 0.0, on_wait=waiting)
        if state is not None
        else contextlib.nullcontext()
    )
    with hold:
        if state is not None and state.is_file():
            live.load_state(state)
        if past:  # after a resumed state: an instrument it holds is past these rows
            for note in warm_new_instruments(live, past, f"--history {history}"):
                err.write(f"note: {note}\n")
        if input == "-" and sys.stdin.isatty():  # a person at a terminal: say what it waits for
            err.write("reading rows from the terminal (e.g. 2024-12-31,5881.6); Ctrl-D ends\n")
            err.flush()
        saver = _Checkpoints(live, state, every, seconds)
        reader: RowReader[Any, Any] = PanelRows(live) if panel else SeriesRows(live)
        if panel:
            heading = PANEL_OUTPUT_COLUMNS
        else:
            bands = live.bands.columns() if live.bands is not None else ()
            heading = OUTPUT_COLUMNS + tuple(bands)
        with _rows(input) as source, saver:
            bad, closed = _serve(reader, source, format, names, saver, heading)
    if closed:
        _silence_stdout()  # the reader went away (e.g. `| head`): nothing more to say
        return
    if bad:
        err.write(f"{bad} malformed row(s) skipped\n")


def _duration(text: str) -> Any:
    import pandas as pd

    try:
        value = pd.Timedelta(text)
    except ValueError:
        raise ConfigError(f"--max-ahead {text!r} is not a duration; e.g. 2D, 36h, 90min") from None
    if pd.isna(value) or value <= pd.Timedelta(0):
        raise ConfigError(f"--max-ahead {text!r}: a duration > 0, e.g. 2D")
    return value


class _Checkpoints:
    """Saves the stream's state (atomically) every ``rows`` rows taken, and ``seconds`` after a
    row taken since the last save (a timer thread), so that a `kill -9` loses at most that;
    and once more at the end. Updates and saves take turns under one lock, so a save always
    holds whole rows."""

    def __init__(self, live: Any, path: Path | None, rows: int, seconds: float) -> None:
        self.live, self.path, self.rows, self.seconds = live, path, rows, seconds
        self.lock = threading.Lock()
        self.unsaved = 0
        self._in_update = False
        self.error: OSError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Checkpoints:
        if self.path is not None and self.seconds > 0:
            self._thread = threading.Thread(target=self._timer, name="checkpoints", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        # the end of the input, or Ctrl-C while waiting for a row (not halfway through one)
        whole = kind is None or (kind is KeyboardInterrupt and not self._in_update)
        if whole and self.path is not None:
            with self.lock:
                self._save()
        if self.error is not None and kind is None:
            raise self.error

    @contextlib.contextmanager
    def updating(self) -> Iterator[None]:
        """One row's update; counted (and maybe saved) when it is taken."""
        with self.lock:
            self._in_update = True
            yield
            self._in_update = False
            self.unsaved += 1
            if self.path is not None and self.rows and self.unsaved >= self.rows:
                self._save()
        if self.error is not None:
            raise self.error

    def _timer(self) -> None:
        while not self._stop.wait(self.seconds):
            with self.lock:
                if self.unsaved:
                    try:
                        self._save()
                    except OSError as exc:  # told by the main thread, on its next row
                        self.error = exc
                        return

    def _save(self) -> None:
        assert self.path is not None
        self.live.save_state(self.path)
        self.unsaved = 0


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
    reader: RowReader[Any, Any],
    lines: Iterator[bytes],
    fmt: str,
    columns: list[str] | None,
    saver: _Checkpoints,
    heading: tuple[str, ...],
) -> tuple[int, bool]:
    """Answer every row; (rows refused, whether the output pipe was closed)."""
    out, err = sys.stdout, sys.stderr
    bad = 0
    try:
        out.write(",".join(heading) + "\n" if fmt == "csv" else "")
        out.flush()
        for row in reader.answer(lines, fmt, columns, guard=saver.updating):
            if row.error is not None:
                bad += 1
                err.write(f"error: {row.error}\n")
                err.flush()
                continue
            if row.note is not None:
                err.write(f"note: {row.note}\n")
                err.flush()
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

"""`gatecast stream`: serve a saved model on rows of observations as they arrive."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from gatecast.cli.stream_rows import stream_lines
from gatecast.errors import DataFileError

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
    engine: str = typer.Option("numpy", help="numpy (no torch imported) or torch."),
    state: Path | None = typer.Option(
        None, help="Resume from this state file if it exists; save the state to it at the end."
    ),
) -> None:
    """Forecast one step ahead for every new row; one line out per row, flushed at once.

    A malformed row gets an error on stderr naming its line and the stream goes on.
    """
    # imported here, not at the top: `--engine numpy` serves without loading torch
    from gatecast.models.recurrent import open_stream

    live = open_stream(model, engine=engine)
    if state is not None and state.is_file():
        live.load_state(state)
    out, err = sys.stdout, sys.stderr
    try:
        source = sys.stdin if input == "-" else open(input, encoding="utf-8")
    except OSError as exc:
        raise DataFileError(
            f"cannot read --input {input}: {exc.strerror}; give a readable file or - for stdin"
        ) from exc
    bad = 0
    try:
        out.write("date,forecast\n" if format == "csv" else "")
        out.flush()
        for row in stream_lines(live, iter(source.readline, ""), format):
            if row.error is not None:
                bad += 1
                err.write(f"error: {row.error}\n")
                err.flush()
                continue
            out.write((row.csv() if format == "csv" else row.jsonl()) + "\n")
            out.flush()
    finally:
        if source is not sys.stdin:
            source.close()
        if state is not None:
            live.save_state(state)
    if bad:
        err.write(f"{bad} malformed row(s) skipped\n")

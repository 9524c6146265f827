"""The `gatecast` command: thin typer commands that parse options, call the library, print tables."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gatecast.cli import evaluate_commands, nn_commands, stream_commands
from gatecast.errors import GatecastError

app = typer.Typer(
    name="gatecast",
    help="Forecast financial time series with RNN, LSTM and GRU models, honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Tables are wide: when the output is not a terminal (a pipe, a log file, CI), do not wrap at 80.
console = Console(width=None if sys.stdout.isatty() else 160)


def print_table(df: Any, title: str, *, floatfmt: str = "{:.4g}") -> None:
    """Print a DataFrame as a rich table (index as the first column)."""
    table = Table(title=title, show_lines=False)
    table.add_column(str(df.index.name or ""), style="bold")
    for c in df.columns:
        numeric = df[c].dtype.kind in "fiu"
        table.add_column(str(c), justify="right" if numeric else "left")
    fmts = [FIXED_FORMATS.get(str(c), floatfmt) for c in df.columns]
    for idx, row in df.iterrows():
        cells = [_cell(v, f) for v, f in zip(row, fmts, strict=True)]
        table.add_row(str(idx), *cells)
    console.print(table)


# Ratios near 1 or 0 need fixed decimals: 4 significant digits would print U = 1.0003 as "1".
FIXED_FORMATS = {
    "theil_u": "{:.4f}",
    "oos_r2": "{:+.4f}",
    "hit_rate": "{:.4f}",
    "train_s": "{:.1f}",
}


def _cell(v: Any, floatfmt: str) -> str:
    if isinstance(v, float):
        if v != v:
            return "—"
        if v.is_integer() and abs(v) >= 1:
            return f"{int(v):,}"
        return floatfmt.format(v)
    return str(v)


@app.command()
def datasets() -> None:
    """List the bundled datasets (shipped by the `arch` package; no network needed)."""
    from gatecast.data.sources import datasets as list_datasets

    print_table(list_datasets(), "Bundled datasets")


@app.command()
def train(
    data: str = typer.Option(
        ..., help="Bundled name (see `gatecast datasets`) or a CSV/Parquet path."
    ),
    out: Path = typer.Option(..., help="Folder for the model, forecasts, metrics and plots."),
    column: str | None = typer.Option(None, help="Price column (default adj_close, else close)."),
    target: str = typer.Option("return", help="price, return or direction."),
    simple: bool = typer.Option(False, "--simple", help="Simple instead of log returns."),
    horizon: int = typer.Option(1, help="Forecast horizon in steps."),
    cell: str = typer.Option("lstm", help="lstm, gru or rnn."),
    mode: str = typer.Option(
        "window", help="window (stateless sliding window) or sequence (stateful, truncated BPTT)."
    ),
    chunks: int = typer.Option(32, help="Sequence mode: contiguous lanes trained side by side."),
    chunk_len: int = typer.Option(16, help="Sequence mode: steps per truncated-BPTT chunk."),
    burn_in: int = typer.Option(
        10, help="Sequence mode: first steps of a lane left out of the loss."
    ),
    window: int = typer.Option(20, help="Input window length."),
    hidden: int = typer.Option(50, help="Hidden units per layer."),
    layers: int = typer.Option(2, help="Recurrent layers."),
    dropout: float = typer.Option(0.0, help="Dropout between recurrent layers."),
    features: str = typer.Option("return", help="Comma-separated input features."),
    scaler: str = typer.Option("standard", help="standard, minmax or none (fit on training only)."),
    epochs: int = typer.Option(50),
    batch_size: int = typer.Option(32, help="0 = full batch."),
    lr: float = typer.Option(1e-3),
    patience: int = typer.Option(10, help="Early-stopping patience in epochs (0 = off)."),
    clip: float = typer.Option(1.0, help="Max gradient norm (0 = off)."),
    val_size: float = typer.Option(0.1, help="Validation tail of the training part."),
    seed: int = typer.Option(0),
    test_start: str | None = typer.Option(None, help="First test date, YYYY-MM-DD."),
    test_size: float | None = typer.Option(None, help="Test fraction (default 0.2)."),
    gap: int = typer.Option(0, help="Rows left out between training and test (embargo)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    sort: bool = typer.Option(False, "--sort", help="Sort unsorted dates instead of failing."),
    dropna: bool = typer.Option(False, "--dropna", help="Drop rows with NaN prices (reported)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a recurrent forecaster and score it against the no-change and mean baselines."""
    from gatecast.experiment.training import TrainJob, run_training

    job = TrainJob(
        data=data,
        column=column,
        target=target,
        log=not simple,
        horizon=horizon,
        cell=cell,
        mode=mode,
        chunks=chunks,
        chunk_len=chunk_len,
        burn_in=burn_in,
        window=window,
        hidden=hidden,
        layers=layers,
        dropout=dropout,
        features=tuple(f.strip() for f in features.split(",") if f.strip()),
        scaler=scaler,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        clip=clip,
        val_size=val_size,
        seed=seed,
        test_start=test_start,
        test_size=test_size,
        gap=gap,
        device=device,
        sort=sort,
        dropna=dropna,
        quiet=quiet,
    )
    run = run_training(job, out)
    if run.extras.get("dropped_rows"):
        console.print(f"[yellow]dropped {run.extras['dropped_rows']} row(s) with NaN/inf values[/]")
    print_table(
        run.table(),
        f"{cell.upper()} vs baselines on {data} ({target}, test from "
        f"{run.forecasts.index[0]:%Y-%m-%d}, {len(run.forecasts)} forecasts)",
    )
    console.print(
        f"wrote {out}/: model.safetensors, manifest.json, forecasts.csv, metrics.json, "
        "loss.png, forecast.png"
    )


@app.command()
def predict(
    model: Path = typer.Option(..., help="A model folder written by `gatecast train`."),
    data: str = typer.Option(..., help="Bundled name or CSV/Parquet path."),
    out: Path = typer.Option(..., help="CSV file for date,forecast,actual."),
    start: str | None = typer.Option(None, help="First date to forecast."),
    sort: bool = typer.Option(False, "--sort"),
    dropna: bool = typer.Option(False, "--dropna"),
    device: str = typer.Option("auto"),
) -> None:
    """Forecast with a saved model (safetensors + JSON; nothing in it can run code)."""
    from gatecast.experiment.training import run_prediction

    frame = run_prediction(model, data, out, start=start, sort=sort, dropna=dropna, device=device)
    console.print(
        f"wrote {len(frame)} forecasts ({frame.index[0]:%Y-%m-%d} .. "
        f"{frame.index[-1]:%Y-%m-%d}) to {out}"
    )


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="A short version (under a minute)."),
    out: Path | None = typer.Option(None, help="Run folder (default runs/demo-<timestamp>)."),
    seed: int = typer.Option(0),
) -> None:
    """The notebook's LSTM done honestly, then RNN vs LSTM vs GRU on S&P 500 returns."""
    from gatecast.experiment.demo import run_demo

    console.print("[bold]gatecast demo[/] " + ("(quick)" if quick else "(full: a few minutes)"))
    res = run_demo(out, quick=quick, seed=seed)
    cols = ["parameters", "epochs", "train_s", "mse", "mse_scaled", "theil_u", "mape"]
    print_table(
        res.notebook[[c for c in cols if c in res.notebook]],
        "1. The course notebook's random walk (price target, 2x50 LSTM, window 20, "
        "scaler fit on train only)",
    )
    console.print("   Theil U > 1 means worse than repeating yesterday's price.\n")
    cols = ["parameters", "epochs", "train_s", "mse", "theil_u", "oos_r2", "hit_rate"]
    print_table(
        res.sp500[[c for c in cols if c in res.sp500]],
        "2. S&P 500 daily log returns, train 1999-2014, test 2015-2018",
    )
    console.print(
        "   theil_u < 1 beats the zero-return forecast; oos_r2 > 0 beats the training mean."
    )
    console.print(f"files in {res.out}/: " + ", ".join(p.name for p in res.files))


nn_commands.register(app)
evaluate_commands.register(app)
stream_commands.register(app)


def _print_errors(func: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GatecastError as exc:
            Console(stderr=True).print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:  # a path the user gave cannot be read or written
            where = f" ({exc.filename})" if exc.filename else ""
            Console(stderr=True).print(
                f"[red]error:[/] {exc.strerror or exc}{where}; check the path and its permissions",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=2) from None

    return wrapper


# Every command prints a GatecastError as one message (no traceback) and exits with code 2.
for _cmd in app.registered_commands:
    if _cmd.callback is not None:
        _cmd.callback = _print_errors(_cmd.callback)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="gatecast")
    sys.exit(0)

"""`gatecast train`, `predict`, `demo` and `datasets`: fit a forecaster, use it, try the demo."""

from __future__ import annotations

from pathlib import Path

import typer

from gatecast.cli.output import console, print_table
from gatecast.experiment.training import TrainJob
from gatecast.models.config import ForecasterConfig
from gatecast.types import Cell, Mode, ScalerKind, TargetKind

app = typer.Typer()

# The defaults are written once, in the library: the model's in ForecasterConfig, the data's and
# the split's in TrainJob. The options below read them rather than restating them.
_M = ForecasterConfig()
_J = TrainJob()


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
    column: str | None = typer.Option(
        _J.column, help="Price column (default adj_close, else close)."
    ),
    target: TargetKind = typer.Option(_J.target, help="What to forecast."),
    simple: bool = typer.Option(not _J.log, "--simple", help="Simple instead of log returns."),
    horizon: int = typer.Option(_J.horizon, help="Forecast horizon in steps."),
    cell: Cell = typer.Option(_M.cell, help="Recurrent cell."),
    mode: Mode = typer.Option(
        _M.mode, help="window: stateless sliding window; sequence: stateful, truncated BPTT."
    ),
    chunks: int = typer.Option(
        _M.chunks, help="Sequence mode: contiguous lanes trained side by side."
    ),
    chunk_len: int = typer.Option(
        _M.chunk_len, help="Sequence mode: steps per truncated-BPTT chunk."
    ),
    burn_in: int = typer.Option(
        _M.burn_in, help="Sequence mode: first steps of a lane left out of the loss."
    ),
    window: int = typer.Option(_M.window, help="Input window length."),
    hidden: int = typer.Option(_M.hidden, help="Hidden units per layer."),
    layers: int = typer.Option(_M.layers, help="Recurrent layers."),
    dropout: float = typer.Option(_M.dropout, help="Dropout between recurrent layers."),
    features: str = typer.Option(",".join(_M.features), help="Comma-separated input features."),
    scaler: ScalerKind = typer.Option(_M.scaler, help="Input scaler (fit on training only)."),
    epochs: int = typer.Option(_M.epochs),
    batch_size: int = typer.Option(_M.batch_size, help="0 = full batch."),
    lr: float = typer.Option(_M.lr),
    patience: int = typer.Option(_M.patience, help="Early-stopping patience in epochs (0 = off)."),
    clip: float = typer.Option(_M.clip, help="Max gradient norm (0 = off)."),
    val_size: float = typer.Option(_M.val_size, help="Validation tail of the training part."),
    seed: int = typer.Option(_M.seed),
    test_start: str | None = typer.Option(_J.test_start, help="First test date, YYYY-MM-DD."),
    test_size: float | None = typer.Option(_J.test_size, help="Test fraction (default 0.2)."),
    gap: int = typer.Option(_J.gap, help="Rows left out between training and test (embargo)."),
    device: str = typer.Option(_M.device, help="auto, cpu or cuda."),
    sort: bool = typer.Option(_J.sort, "--sort", help="Sort unsorted dates instead of failing."),
    dropna: bool = typer.Option(
        _J.dropna, "--dropna", help="Drop rows with NaN prices (reported)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a recurrent forecaster and score it against the no-change and mean baselines."""
    from gatecast.experiment.training import run_training

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
    if run.dropped_rows:
        console.print(f"[yellow]dropped {run.dropped_rows} row(s) with NaN/inf values[/]")
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
    sort: bool = typer.Option(_J.sort, "--sort"),
    dropna: bool = typer.Option(_J.dropna, "--dropna"),
    device: str = typer.Option(_M.device),
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

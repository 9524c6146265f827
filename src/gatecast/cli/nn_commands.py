"""CLI commands of the NumPy engine: gradient flow, cell diagrams, the gates behind a forecast."""

from __future__ import annotations

from pathlib import Path

import typer

from gatecast.cli import options
from gatecast.cli.output import console
from gatecast.errors import ConfigError

app = typer.Typer()


@app.command("gradient-flow")
def gradient_flow_command(
    out: Path = typer.Option(..., help="Folder for gradient_flow.png and gradient_flow.json."),
    steps: int = typer.Option(100, help="Largest distance k back in time."),
    hidden: int = typer.Option(50, help="Units of the one-layer models."),
    seed: int = typer.Option(0, help="Seeds the inputs and the weights."),
    overwrite: bool = options.overwrite_option(),
) -> None:
    """How far back a gradient reaches: ||dh_T/dx_(T-k)|| for RNN, LSTM and GRU (NumPy engine)."""
    from gatecast.experiment.gradient_flow import gradient_flow, write_gradient_flow
    from gatecast.experiment.run_folder import check_out_folder, staged_folder

    result = gradient_flow(steps, seed, hidden=hidden)  # its settings are checked first
    check_out_folder(out, overwrite=overwrite, kind="gradient-flow")
    config = {"steps": steps, "hidden": hidden, "seed": seed}
    with staged_folder(out, overwrite=overwrite, kind="gradient-flow", config=config) as tmp:
        files = [out / p.name for p in write_gradient_flow(result, tmp)]
    console.print(result.summary(), highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in files)}", highlight=False)


@app.command("diagram")
def diagram_command(
    out: Path = typer.Option(..., help="PNG file to write."),
    cell: str = typer.Option("lstm", help="lstm, gru or rnn."),
    overwrite: bool = options.overwrite_option("file"),
) -> None:
    """Draw one recurrent cell: inputs, gates, state paths and outputs, with its equations."""
    from gatecast.experiment.run_folder import check_out_file
    from gatecast.plots.cells import cell_diagram
    from gatecast.plots.forecasts import save_figure

    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out} must be a .png file, e.g. --out {cell.lower()}.png")
    check_out_file(out, overwrite=overwrite)
    path = save_figure(cell_diagram(cell), out)
    typer.echo(f"wrote {path}")


@app.command("gates")
def gates_command(
    model: Path = options.MODEL_FOLDER,
    data: str = options.DATA_GIVEN,
    out: Path = typer.Option(..., help="Folder for the gate heatmaps and cell-state plots."),
    date: str | None = options.optional(help="Date the forecast is for (default: the last one)."),
    sort: bool = options.SORT,
    dropna: bool = options.DROPNA,
    overwrite: bool = options.overwrite_option(),
) -> None:
    """Show every gate over the input window of one forecast (NumPy engine: no torch needed)."""
    from gatecast.data.sources import load
    from gatecast.experiment.run_folder import check_not_input, check_out_folder, staged_folder
    from gatecast.plots.cells import write_gate_figures
    from gatecast.serve import load_numpy

    check_not_input(out, {"--data": data, "--model": model})
    check_out_folder(out, overwrite=overwrite, kind="gates")
    numpy_model = load_numpy(model)
    frame = load(data, column=numpy_model.column, sort=sort, dropna=dropna)
    gates = numpy_model.gates(frame, date)
    config = {"model": str(model), "data": data, "date": date}
    with staged_folder(out, overwrite=overwrite, kind="gates", config=config) as tmp:
        written = write_gate_figures(
            gates.record,
            tmp,
            time_labels=[
                f"{d:%Y-%m-%d}" if hasattr(d, "strftime") else str(d) for d in gates.dates
            ],
            subject=f"forecast for {_day(gates.target_date)} = {gates.forecast:.4g} "
            f"({numpy_model.target.kind})",
        )
    files = [out / p.name for p in written]
    typer.echo(
        f"{numpy_model.cell.upper()} forecast for {_day(gates.target_date)}: {gates.forecast:.6g}"
    )
    typer.echo(f"wrote {', '.join(str(p) for p in files)}")


def _day(value: object) -> str:
    return f"{value:%Y-%m-%d}" if hasattr(value, "strftime") else str(value)

"""`gatecast report`: write (again) the one-page HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from gatecast.cli.output import console

app = typer.Typer()


@app.command()
def report(
    run_dir: Path = typer.Argument(
        ..., help="A run folder of gatecast train, evaluate or demo (it holds metrics.json)."
    ),
    figures: bool = typer.Option(True, help="Draw the figures (--no-figures: tables only)."),
) -> None:
    """Write RUN_DIR/report.html: the run on one page (HTML and CSS, figures as SVG, no script,
    nothing loaded from elsewhere), drawn from the run's files."""
    from gatecast.experiment.report import write_report

    path = write_report(run_dir, figures=figures)
    console.print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", highlight=False)

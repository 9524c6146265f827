"""The `gatecast` command: one typer app per command group, composed here (typer's "one file per
command"), and the one place where a library error becomes a one-line message and exit code 2."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from gatecast.cli import (
    backtest_commands,
    evaluate_commands,
    model_commands,
    nn_commands,
    report_commands,
    stream_commands,
    sweep_commands,
    train_commands,
    var_commands,
)
from gatecast.errors import GatecastError


class _OneLineErrors(TyperGroup):
    """Every command prints a GatecastError, or an OSError on a path the user gave, as one message
    (no traceback) and exits with code 2."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """Run the command with its command line recorded (``run.json`` of its run folder)."""
        from gatecast.experiment.command import command_line

        argv = list(args) if args is not None else sys.argv[1:]
        with command_line(["gatecast", *argv]):
            return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
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


app = typer.Typer(
    name="gatecast",
    help="Forecast financial time series with RNN, LSTM and GRU models, honestly.",
    cls=_OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from gatecast._version import __version__

        typer.echo(f"gatecast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Forecast financial time series with RNN, LSTM and GRU models, honestly."""


# Without a name, each group's commands join the top level: `gatecast train`, not `gatecast x train`.
for _group in (
    train_commands,
    nn_commands,
    evaluate_commands,
    backtest_commands,
    stream_commands,
    report_commands,
    var_commands,
    sweep_commands,
    model_commands,
):
    app.add_typer(_group.app)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="gatecast")
    sys.exit(0)

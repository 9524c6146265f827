"""Options that several commands share (``--overwrite``, ``--resume``: docs/run-folders.md), and
which options the user actually gave, as opposed to those left at their defaults: an option
given for a run that does not use it is refused."""

from __future__ import annotations

from typing import Any

import typer

#: Where a value came from (click's ``ParameterSource`` names; typer vendors its own click, so
#: the enum is compared by name).
_GIVEN = ("COMMANDLINE", "ENVIRONMENT")


def given_options(ctx: Any) -> set[str]:
    """The parameter names (``refit_every``) of the command of ``ctx`` (a click or typer
    context) that were given explicitly."""
    return {
        name
        for name in ctx.params
        if getattr(ctx.get_parameter_source(name), "name", None) in _GIVEN
    }


def overwrite_option(what: str = "run", replaced: str = "") -> Any:
    """``--overwrite``: replace an earlier ``what`` in --out (``replaced``: what goes with it)."""
    also = f" ({replaced} too)" if replaced else ""
    return typer.Option(False, "--overwrite", help=f"Replace an earlier {what} in --out{also}.")


def resume_option(reused: str) -> Any:
    """``--resume``: continue the run in --out, its finished ``reused`` read back."""
    return typer.Option(
        False,
        "--resume",
        help=f"Continue the run in --out (a killed or finished one): {reused}.",
    )

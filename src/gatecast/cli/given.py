"""Which options the user actually gave on the command line (or in the environment), as opposed to
those left at their defaults: an option given for a run that does not use it is refused."""

from __future__ import annotations

from typing import Any

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

"""The option tables of docs/cli.md, written from the command-line app itself, so they cannot
drift from it: `python docs/hooks/cli_tables.py` rewrites each `gatecast COMMAND` section's
table in place; tests/test_docs.py checks that the page holds what this would write."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

CLI_PAGE = Path(__file__).resolve().parents[1] / "cli.md"
HEADER = "| option | default | what |\n|---|---|---|\n"
_SECTION = re.compile(r"^## `gatecast (?P<name>[\w-]+)`\n", re.M)
_TABLE = re.compile(r"\| option \| default \| what \|\n\|---\|---\|---\|\n(?:\|.*\|\n)*")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_METAVAR = {"<str>": "TEXT", "<int>": "N", "<float>": "X", "<path>": "PATH"}


def _metavar(record: str) -> str:
    """typer's metavar of an option, as the page spells it: ``TEXT``, ``N``, ``{a,b}``."""
    _, _, meta = record.partition(" ")
    meta = meta.split(" / ")[0].strip()  # "--epochs, --recurrent-epochs <int>" -> the metavar
    if meta.startswith("<") and "|" in meta:
        return " {" + meta.strip("<>").replace("|", ",") + "}"
    return f" {_METAVAR.get(meta, meta.strip('<>').upper())}" if meta else ""


def _row(param: Any, ctx: Any) -> str:
    record, _ = param.get_help_record(ctx)
    if getattr(param, "is_flag", False) and param.secondary_opts:
        option = f"`{param.opts[0]}` / `{param.secondary_opts[0]}`"
        default = f"`{param.opts[0] if param.default else param.secondary_opts[0]}`"
    elif getattr(param, "is_flag", False):
        option, default = f"`{param.opts[0]}`", "off"
    else:
        meta = _metavar(record.split(", ")[-1])
        option = " / ".join(f"`{o}{meta if k == 0 else ''}`" for k, o in enumerate(param.opts))
        empty = param.default in (None, "", (), []) or param.required
        default = "—" if empty else f"`{param.default}`"
    return f"| {option} | {default} | {_cell(param.help or '')} |\n"


def option_table(command: Any) -> str:
    """The markdown table of one command's options, in their order."""
    ctx = command.make_context(command.name, [], resilient_parsing=True)
    params = [p for p in command.params if getattr(p, "opts", None) and p.opts[0].startswith("-")]
    return HEADER + "".join(_row(p, ctx) for p in params)


def commands() -> dict[str, Any]:
    from typer.main import get_command

    from gatecast.cli.app import app

    group: Any = get_command(app)
    return dict(group.commands)


def page_with_tables(text: str) -> str:
    """``text`` (docs/cli.md) with every command section's option table written afresh."""
    found = commands()
    parts = _SECTION.split(text)
    out = [parts[0]]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found and _TABLE.search(body):
            body = _TABLE.sub(lambda _m, n=name: option_table(found[n]), body, count=1)
        out.append(f"## `gatecast {name}`\n{body}")
    return "".join(out)


if __name__ == "__main__":
    page = CLI_PAGE.read_text(encoding="utf-8")
    CLI_PAGE.write_text(page_with_tables(page), encoding="utf-8")
    sys.exit(0)

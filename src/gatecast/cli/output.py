"""What the commands print: one console and the rich tables of metrics."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gatecast.experiment.report.formatting import DEFAULT_FORMAT, column_format, format_cell

# Tables are wide: when the output is not a terminal (a pipe, a log file, CI), do not wrap at 80.
console = Console(width=None if sys.stdout.isatty() else 160)


def print_table(df: Any, title: str, *, floatfmt: str = DEFAULT_FORMAT) -> None:
    """Print a DataFrame as a rich table (index as the first column).

    Every label and cell is plain text, never rich markup: a model label such as ``lstm[s1]``
    or a file name with brackets prints as it is.
    """
    table = Table(title=Text(title), show_lines=False)
    table.add_column(Text(str(df.index.name or "")), style="bold")
    for c in df.columns:
        numeric = df[c].dtype.kind in "fiu"
        table.add_column(Text(str(c)), justify="right" if numeric else "left")
    fmts = [column_format(c, floatfmt) for c in df.columns]
    for idx, row in df.iterrows():
        cells = [Text(format_cell(v, f)) for v, f in zip(row, fmts, strict=True)]
        table.add_row(Text(str(idx)), *cells)
    console.print(table)

"""What the commands print: one console and the rich tables of metrics."""

from __future__ import annotations

import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

# Tables are wide: when the output is not a terminal (a pipe, a log file, CI), do not wrap at 80.
console = Console(width=None if sys.stdout.isatty() else 160)

# Ratios near 1 or 0 need fixed decimals: 4 significant digits would print U = 1.0003 as "1".
FIXED_FORMATS = {
    "theil_u": "{:.4f}",
    "oos_r2": "{:+.4f}",
    "hit_rate": "{:.4f}",
    "train_s": "{:.1f}",
}


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


def _cell(v: Any, floatfmt: str) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        if v.is_integer() and abs(v) >= 1:
            return f"{int(v):,}"
        return floatfmt.format(v)
    return str(v)

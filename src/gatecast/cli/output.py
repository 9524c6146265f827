"""What the commands print: one console and the rich tables of metrics."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gatecast.experiment.report.formatting import (
    DEFAULT_FORMAT,
    INFINITE_WORDS,
    MISSING,
    column_cell,
    column_format,
)

# Tables are wide: when the output is not a terminal (a pipe, a log file, CI), do not wrap at 80.
console = Console(width=None if sys.stdout.isatty() else 160)

#: The rows a table that can grow long (one per configuration tried...) shows; its file has all.
FOLD_ROWS = 20
#: What one column costs on the line besides its text: a space each side and its border.
_COLUMN_EDGES = 3

#: How the backtest and VaR tables print their columns (:func:`formatted`).
COLUMN_FORMATS = {
    # gatecast backtest
    "ann_return": "{:+.2%}",
    "ann_vol": "{:.2%}",
    "sharpe": "{:+.2f}",
    "sharpe_gross": "{:+.2f}",
    "max_drawdown": "{:.1%}",
    "turnover_year": "{:.0f}",
    "break_even_bps": "{:.1f}",
    "psr": "{:.3f}",
    "dsr": "{:.3f}",
    "n_trials": "{:.0f}",
    # gatecast var
    "nu": "{:.2f}",
    "exceptions": "{:.0f}",
    "expected": "{:.1f}",
    "kupiec_p": "{:.4f}",
    "ind_p": "{:.4f}",
    "cc_p": "{:.4f}",
    "basel_exceptions": "{:.0f}",
    "zone": "{}",
    "es_z2": "{:+.3f}",
    "es_p": "{:.3f}",
    "verdict": "{}",
}


def print_table(
    df: Any,
    title: str,
    *,
    floatfmt: str = DEFAULT_FORMAT,
    max_rows: int | None = None,
    full_table: str = "",
) -> None:
    """Print a DataFrame as a rich table (index as the first column).

    Every label and cell is plain text, never rich markup: a model label such as ``lstm[s1]``
    or a file name with brackets prints as it is. A table wider than the console is printed as
    several tables, each with the row labels and as many whole columns as fit (as pandas wraps
    a wide frame), so no cell is cut at 80 columns; a cell wider than the line folds onto the
    next one rather than ending in "…". With ``max_rows``, a longer table shows its first
    ``max_rows`` rows and a line saying how many more are in ``full_table`` (a file name).
    """
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    columns = [str(c) for c in df.columns]
    fmts = [column_format(c, floatfmt) for c in df.columns]
    labels = [str(i) for i in shown.index]
    cells = [
        [column_cell(c, v, f) for c, v, f in zip(df.columns, row, fmts, strict=True)]
        for _, row in shown.iterrows()
    ]
    numeric = [df[c].dtype.kind in "fiu" for c in df.columns]
    widths = [
        max([len(name), *(len(r[j]) for r in cells)]) + _COLUMN_EDGES
        for j, name in enumerate(columns)
    ]
    label_width = max([len(str(df.index.name or "")), *map(len, labels)]) + _COLUMN_EDGES
    parts = _fit(widths, console.width - label_width - 1)
    for k, part in enumerate(parts):
        caption = title if k == 0 else f"{title} (continued)"
        if len(parts) > 1:
            span = f"{part[0] + 1}-{part[-1] + 1}" if len(part) > 1 else f"{part[0] + 1}"
            caption += f" [column{'s' if len(part) > 1 else ''} {span} of {len(columns)}]"
        table = Table(title=Text(caption), show_lines=False)
        table.add_column(Text(str(df.index.name or "")), style="bold", overflow="fold")
        for j in part:
            table.add_column(
                Text(columns[j]), justify="right" if numeric[j] else "left", overflow="fold"
            )
        for name, row in zip(labels, cells, strict=True):
            table.add_row(Text(name), *(Text(row[j]) for j in part))
        console.print(table)
    if len(shown) < len(df):
        where = f" in {full_table}" if full_table else ""
        console.print(
            Text(f"{len(df) - len(shown)} more row(s) not shown; the full table is{where}")
        )


def formatted(table: Any, columns: Iterable[str]) -> Any:
    """The ``columns`` of ``table`` (in that order) as text, each cell by its column's format
    in :data:`COLUMN_FORMATS`: "—" where missing, an infinite value of a column in
    ``INFINITE_WORDS`` in words."""
    shown = table[list(columns)].astype(object)
    for column in shown.columns:
        fmt = COLUMN_FORMATS[column]
        shown[column] = [_cell(column, v, fmt) for v in table[column]]
    return shown


def _cell(column: str, value: Any, fmt: str) -> str:
    if value is None or value != value:
        return MISSING
    if column in INFINITE_WORDS and abs(value) == float("inf"):
        return column_cell(column, float(value))
    return fmt.format(value)


def print_panel_read(why: str, source: str, layout: str, instruments: int, notes: Any) -> None:
    """A panel walk-forward's first lines: why the data was read as a panel, from where and
    how, its instruments, and the run's notes."""
    console.print(
        f"panel ({why}): {source}, read as {layout}; {instruments} instruments, each on its own "
        f"calendar"
    )
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")


def print_per_instrument(table: Any, title: str, out: Any) -> None:
    """A panel run's per-instrument table: its first rows, and the run folder ``out``'s
    per_instrument.csv for the rest."""
    print_table(
        table,
        title,
        max_rows=FOLD_ROWS,
        full_table=str(out) + "/per_instrument.csv" if out else "",
    )


def _fit(widths: list[int], room: int) -> list[list[int]]:
    """The columns (by position) grouped in order so that each group fits in ``room``
    characters; a column wider than ``room`` gets a group of its own."""
    groups: list[list[int]] = []
    used = room + 1
    for j, w in enumerate(widths):
        if used + w > room or not groups:
            groups.append([j])
            used = w
        else:
            groups[-1].append(j)
            used += w
    return groups or [[]]

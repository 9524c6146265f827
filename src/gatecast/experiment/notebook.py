"""How a result shows in a notebook: its title, sentences and main table as HTML
(``_repr_html_``), and its figures returned to draw, or written into a run folder."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def html_view(
    title: str, table: pd.DataFrame, lines: Sequence[str] = (), *, max_rows: int = 30
) -> str:
    """A result as HTML: the title in bold, each line as a paragraph, then the table (numbers to
    four significant digits, at most ``max_rows`` rows)."""
    head = f"<p><b>{escape(title)}</b></p>" + "".join(f"<p>{escape(x)}</p>" for x in lines if x)
    body: str = table.to_html(float_format=lambda v: f"{v:.4g}", max_rows=max_rows, border=0)
    return head + body


def draw_or_write(
    figures: Mapping[str, Figure], folder: str | os.PathLike[str] | Any | None
) -> dict[str, Figure] | list[Path]:
    """``figures`` (file name -> figure) as they are, to draw in a notebook, or (with ``folder``,
    a path or a RunFolder) written there as PNG files, whose paths are returned."""
    if folder is None:
        return dict(figures)
    from gatecast.experiment.run_folder import RunFolder

    run = folder if isinstance(folder, RunFolder) else RunFolder(os.fspath(folder))
    return [run.write_figure(name, fig) for name, fig in figures.items()]

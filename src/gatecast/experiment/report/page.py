"""The page model (facts, tables, figures, notes) and its rendering as one self-contained HTML file."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gatecast.experiment.report.facts import version
from gatecast.experiment.report.formatting import column_cell, column_format
from gatecast.experiment.report.verdict import LEVEL

#: Columns holding test p-values, each with the column that says which way the test went and
#: the sign of a better model there: a p-value below LEVEL is set in bold only where the model
#: is better (a Diebold-Mariano statistic below zero: a lower loss; a Pesaran-Timmermann one
#: above zero; a Theil U below one), never where it is significantly worse.
P_VALUE_COLUMNS = {
    "p_ref": ("dm_ref", -1.0),
    "p_best": ("dm_best", -1.0),
    "p_value": ("dm_stat", -1.0),
    "pt_p": ("pt_stat", 1.0),
    "dm_p_no_change": ("theil_u", -1.0),
}
#: Where the direction column's "no difference" lies (zero for a statistic).
_NEUTRAL = {"theil_u": 1.0}
#: Wall-clock columns: they differ on every run, so the page leaves them to the CSV files.
CLOCK_COLUMNS = ("train_s", "seconds")


@dataclass
class Table:
    """One table of the page: ``frame``'s index labels the rows; numbers as the console prints them."""

    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass
class Panel:
    """One figure of the page: an ``<svg>`` (or, for a PNG the report cannot redraw, an
    ``<img>`` with the PNG inline), its caption, and the PNG of the run it renders."""

    id: str
    caption: str
    body: str
    source: str = ""


@dataclass
class Report:
    """Everything on the page; :meth:`to_html` renders it."""

    kind: str
    title: str
    verdict: str
    facts: list[tuple[str, str]]
    command: str
    tables: list[Table] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def to_html(self) -> str:
        """The whole page, as one string."""
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="gatecast">',
            f"<title>{escape(self.title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<header>",
            f'<p class="kind">gatecast {escape(self.kind)}</p>',
            f"<h1>{escape(self.title)}</h1>",
            f'<p class="verdict">{escape(self.verdict)}</p>' if self.verdict else "",
            '<dl class="facts">',
            *(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in self.facts),
            f"<dt>Reproduce</dt><dd><pre>{escape(self.command)}</pre></dd>",
            "</dl>",
            "</header>",
            "<main>",
        ]
        if self.tables:
            parts.append('<section id="results"><h2>Results</h2>')
            parts += [_table_html(t) for t in self.tables]
            parts.append("</section>")
        if self.panels:
            parts.append('<section id="figures"><h2>Figures</h2>')
            for p in self.panels:
                source = f' data-source="{escape(p.source)}"' if p.source else ""
                parts.append(
                    f'<figure id="{escape(p.id)}"{source}>{p.body}'
                    f"<figcaption>{escape(p.caption)}</figcaption></figure>"
                )
            parts.append("</section>")
        if self.notes:
            parts.append('<section id="notes"><h2>Notes</h2><ul>')
            parts += [f"<li>{escape(n)}</li>" for n in self.notes]
            parts.append("</ul></section>")
        parts += [
            "</main>",
            "<footer><p>",
            f"Written by gatecast {escape(version('gatecast'))} from this run folder's files "
            f"({escape(', '.join(self.sources))}). A single file of HTML and CSS with SVG figures: "
            "no script, nothing loaded from elsewhere; it prints as it shows.",
            "</p></footer>",
            "</body>",
            "</html>",
        ]
        return "\n".join(p for p in parts if p) + "\n"


def _table_html(table: Table) -> str:
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    formats = [column_format(c) for c in columns]
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in ["", *columns])
    rows = []
    for name, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = []
        values = dict(zip(columns, row, strict=True))
        for col, fmt, value in zip(columns, formats, row, strict=True):
            shown = column_cell(col, _native(value), fmt)
            cls = ' class="sig"' if significantly_better(col, values) else ""
            cells.append(f"<td{cls}>{escape(shown)}</td>")
        rows.append(f'<tr><th scope="row">{escape(str(name))}</th>{"".join(cells)}</tr>')
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table"><table><caption>{escape(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}</div>"
    )


def significantly_better(column: str, row: dict[str, Any]) -> bool:
    """Whether ``row``'s p-value in ``column`` is below :data:`LEVEL` with the model better
    than what it is tested against (its direction column on the better side); False for any
    other column, a missing value, or a row without the direction column."""
    if column not in P_VALUE_COLUMNS:
        return False
    direction, better = P_VALUE_COLUMNS[column]
    p, stat = row.get(column, math.nan), row.get(direction, math.nan)
    if not (_is_number(p) and _is_number(stat)) or float(p) >= LEVEL:
        return False
    return better * (float(stat) - _NEUTRAL.get(direction, 0.0)) > 0


def _native(value: Any) -> Any:
    """numpy scalars as the Python values the console table gets."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not (
        isinstance(value, (bool, np.bool_)) or math.isnan(float(value))
    )


def escape(text: str) -> str:
    """``text`` safe inside an HTML element or a quoted attribute."""
    return html.escape(text, quote=True)


# Plain, printable, readable in greyscale; no web font, no URL.
CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #161616;
  background: #fff; max-width: 1180px; margin: 0 auto; padding: 20px 32px 40px; }
.kind { margin: 0; font-size: .85rem; letter-spacing: .06em; text-transform: uppercase;
  color: #444; }
h1 { font-size: 1.55rem; margin: .15rem 0 .6rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .6rem; border-bottom: 2px solid #161616;
  padding-bottom: .15rem; }
.verdict { font-size: 1.2rem; font-weight: 700; margin: .4rem 0 1rem; padding: .55rem .9rem;
  border-left: 6px solid #161616; background: #f2f2f2; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0;
  font-size: .9rem; }
dl.facts dt { font-weight: 700; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
pre { margin: 0; padding: .45rem .7rem; background: #f6f6f6; border: 1px solid #d0d0d0;
  font: .82rem/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.table { overflow-x: auto; margin: .8rem 0 1.2rem; }
table { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 700; padding: .2rem 0 .4rem; }
th, td { padding: .28rem .65rem; text-align: right; border-bottom: 1px solid #d0d0d0;
  white-space: nowrap; }
thead th { border-bottom: 2px solid #161616; }
tbody th { text-align: left; font-weight: 600; white-space: normal; min-width: 8rem; }
td.sig { font-weight: 800; text-decoration: underline; }
.note { font-size: .85rem; color: #333; margin: .35rem 0 0; max-width: 60rem; }
figure { margin: 1.4rem 0; break-inside: avoid; }
figure svg, figure img { display: block; max-width: 100%; height: auto; }
figure svg * { stroke-linejoin: round; stroke-linecap: butt; }
figcaption { font-size: .88rem; color: #333; margin-top: .3rem; }
footer { margin-top: 2rem; font-size: .8rem; color: #444; border-top: 1px solid #d0d0d0; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .verdict { background: none; }
  h2 { break-after: avoid; }
  .table, figure { break-inside: avoid; }
  .table { overflow: visible; }
}
@page { margin: 14mm; }
"""

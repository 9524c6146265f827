"""Figures as inline SVG for an HTML page: self-contained, byte-for-byte reproducible, and told
apart by line style as well as colour (so they read in greyscale and on paper).

Matplotlib's SVG carries what a page must not: a DOCTYPE and namespaces pointing at w3.org, a
"Creator" link, a date, random ids (``svg.hashsalt`` unset) and ids such as ``figure_1`` that
clash when several figures share one page. :func:`figure_svg` removes or fixes each of them.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.figure import Figure

from gatecast.errors import ConfigError

# Okabe and Ito's colour-blind-safe palette, each colour paired with its own dash pattern.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933")
DASHES: tuple[Any, ...] = (
    "-",
    "--",
    ":",
    "-.",
    (0, (6, 2, 1, 2, 1, 2)),
    (0, (1, 4)),
    (0, (10, 3)),
    (0, (4, 1, 4, 4)),
)
#: rcParams of every report figure: the paired palette and dashes, and text kept as text.
REPORT_RC: dict[str, Any] = {
    "axes.prop_cycle": cycler(color=COLORS) + cycler(linestyle=DASHES),
    "svg.fonttype": "none",  # <text>, not glyph paths: smaller, searchable, selectable
    "font.family": "DejaVu Sans",
}

_ID = re.compile(r'\sid="([^"]+)"')
_REF = re.compile(r'(?:url\(#|href="#)([^")]+)')
_PREAMBLE = re.compile(r"\A.*?(?=<svg\b)", re.S)
_DROPPED = (
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
    re.compile(r'<style type="text/css">.*?</style>\s*', re.S),
    re.compile(r'\s(?:xmlns(?::\w+)?|version)="[^"]*"'),
)


def series_style(i: int) -> dict[str, Any]:
    """Colour and dash pattern of the ``i``-th series (the same pairing as :data:`REPORT_RC`)."""
    return {"color": COLORS[i % len(COLORS)], "linestyle": DASHES[i % len(DASHES)]}


@contextmanager
def report_style() -> Iterator[None]:
    """Draw figures inside this block with :data:`REPORT_RC` (and nothing global changed after)."""
    rc: Any = REPORT_RC  # matplotlib's stubs want literal keys
    with plt.rc_context(rc):
        yield


def figure_svg(fig: Figure, figure_id: str, alt: str) -> str:
    """``fig`` as an ``<svg>`` element to paste into an HTML page; the figure is closed.

    The same figure gives the same bytes on every run: ids are derived from ``figure_id`` (and
    prefixed with it, so figures on one page never share an id), there is no date, creator or
    namespace URL, and text stays text. ``alt`` becomes the ``<title>`` and ``aria-label``
    that a screen reader announces.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    figure_id : str
        Unique on the page; letters, digits, ``-`` and ``_``.
    alt : str
        What the figure shows, in a sentence.

    Returns
    -------
    str
    """
    if not re.fullmatch(r"[A-Za-z][\w-]*", figure_id):
        raise ConfigError(f"figure id {figure_id!r}: use letters, digits, - and _ only")
    buf = io.StringIO()
    try:
        with plt.rc_context({"svg.hashsalt": figure_id, "svg.fonttype": "none"}):
            fig.savefig(
                buf,
                format="svg",
                bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
            )
    finally:
        plt.close(fig)
    svg = _PREAMBLE.sub("", buf.getvalue())
    for pattern in _DROPPED:
        svg = pattern.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")
    referenced = set(_REF.findall(svg))
    svg = _ID.sub(lambda m: f' id="{figure_id}-{m[1]}"' if m[1] in referenced else "", svg)
    svg = _REF.sub(lambda m: m[0][: -len(m[1])] + f"{figure_id}-{m[1]}", svg)
    label = html.escape(alt, quote=True)
    svg = svg.replace("<svg", f'<svg role="img" aria-label="{label}"', 1)
    svg = re.sub(r"<svg\b[^>]*>", lambda m: f"{m[0]}<title>{label}</title>", svg, count=1)
    return svg.strip()

"""The page's figures: a matplotlib figure as an inline SVG panel, the run's other PNGs as they are."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gatecast.experiment.report.page import Panel, escape


def panel(figure_id: str, source: str, draw: Callable[[], Any], alt: str, caption: str) -> Panel:
    """The figure ``draw`` makes, in the report's style, as an inline SVG with ``alt`` text."""
    from gatecast.plots.svg import figure_svg, report_style

    with report_style():
        fig = draw()
    return Panel(figure_id, caption, figure_svg(fig, figure_id, alt), source)


def unmatched_pngs(folder: Path, panels: Sequence[Panel]) -> list[Panel]:
    """The run's PNGs that no panel redraws, inline as they are (every figure the run made is
    on the page)."""
    drawn = {p.source for p in panels}
    out = []
    for png in sorted(folder.glob("*.png")):
        if png.name in drawn:
            continue
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        alt = f"Figure {png.name} of this run, as the run drew it."
        out.append(
            Panel(
                f"fig-{png.stem.replace('_', '-')}",
                f"{png.name} (the run's PNG, shown as written).",
                f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">',
                png.name,
            )
        )
    return out

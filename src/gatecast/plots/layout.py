"""The finish every one-panel series figure shares: title, legend, light grid, tight layout."""

from __future__ import annotations

from typing import Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Where the series figures put their legend.
LegendPlace = Literal["upper left", "lower left"]


def finish(fig: Figure, ax: Axes, title: str, *, loc: LegendPlace, ncol: int = 4) -> Figure:
    """Title ``ax``, put its legend (``ncol`` columns, small type) at ``loc``, grid it lightly and
    lay ``fig`` out tight; returns ``fig``."""
    ax.set_title(title)
    ax.legend(ncol=ncol, fontsize=8, loc=loc)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig

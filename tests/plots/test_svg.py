"""figure_svg: the same figure gives the same bytes, ids are the figure's own, nothing points
outside the page, and the alt text is the SVG's title; series differ in dash as well as colour."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gatecast.errors import ConfigError
from gatecast.plots.svg import DASHES, figure_svg, report_style, series_style


def _figure():
    with report_style():
        fig, ax = plt.subplots(figsize=(4, 3))
        for i in range(3):
            ax.plot(np.arange(20) * (i + 1), label=f"series {i}")
        ax.imshow(np.linspace(0, 1, 16).reshape(4, 4), extent=(0, 5, 0, 5))
        ax.legend()
    return fig


def test_the_same_figure_gives_the_same_bytes() -> None:
    assert figure_svg(_figure(), "fig-a", "three lines") == figure_svg(
        _figure(), "fig-a", "three lines"
    )


def test_ids_are_prefixed_and_every_reference_resolves() -> None:
    svg = figure_svg(_figure(), "fig-a", "three lines")
    ids = re.findall(r'\sid="([^"]+)"', svg)
    refs = re.findall(r'(?:url\(#|href="#)([^")]+)', svg)
    assert ids and all(i.startswith("fig-a-") for i in ids)
    assert refs and set(refs) <= set(ids)
    other = figure_svg(_figure(), "fig-b", "three lines")
    assert not set(ids) & set(re.findall(r'\sid="([^"]+)"', other))


def test_nothing_points_outside_and_the_alt_text_is_the_title() -> None:
    svg = figure_svg(_figure(), "fig-a", 'Lines & "dots"')
    assert not re.search(r"https?:|xmlns|<!DOCTYPE|<\?xml|<metadata|<style", svg)
    assert svg.startswith('<svg role="img" aria-label="Lines &amp; &quot;dots&quot;"')
    assert "<title>Lines &amp; &quot;dots&quot;</title>" in svg
    assert "<text" in svg  # text stays text (searchable, no glyph paths)


def test_a_bad_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="figure id"):
        figure_svg(_figure(), "1 bad", "x")


def test_series_differ_in_dash_as_well_as_colour() -> None:
    styles = [series_style(i) for i in range(len(DASHES))]
    assert len({str(s["linestyle"]) for s in styles}) == len(DASHES)
    assert len({s["color"] for s in styles}) == len(DASHES)
    with report_style():
        fig, ax = plt.subplots()
        lines = [ax.plot([0, 1])[0] for _ in range(4)]
    assert len({str(line.get_linestyle()) for line in lines}) == 4
    plt.close(fig)

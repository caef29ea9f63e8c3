"""The year page's charts: SVG that a strict CSP lets through and that reads without colour (issue 15)."""

from __future__ import annotations

import re

from zorg_contracting.entrypoints.charts import Bar, Series, grouped_bars, stacked_bars

SERIES = [
    Series("a", "Ondertekend", "solid"),
    Series("b", "In onderhandeling", "hatch"),
    Series("c", "Gesloten", "cross"),
]


def test_each_series_has_its_own_pattern_and_every_bar_its_value_in_text() -> None:
    svg = str(
        stacked_bars(
            "routes",
            "Per route",
            "uitleg",
            SERIES,
            [Bar("Digitaal", [("a", 30, "30"), ("b", 12, "12"), ("c", 0, "0")]), Bar("Offerte", [("b", 1, "1")])],
        )
    )
    fills = dict(re.findall(r'<pattern id="routes-(\w)"[^>]*>(.*?)</pattern>', svg))
    assert len(set(fills.values())) == 3  # three different fills, not three colours
    assert '<text x="' in svg and ">30<" in svg and ">12<" in svg and ">42<" in svg  # values and the total
    assert 'role="img"' in svg and 'aria-labelledby="routes-title routes-desc"' in svg
    assert '<title id="routes-title">Per route</title>' in svg
    assert "style=" not in svg and "<script" not in svg and "<style" not in svg


def test_labels_are_escaped_and_an_empty_chart_is_still_a_chart() -> None:
    svg = str(
        grouped_bars("r", "<b>titel</b>", "d", SERIES[:1], [Bar('<img src=x onerror="1">', [("a", 5, "€ 5,00")])])
    )
    assert "<img" not in svg and "&lt;img" in svg and "&lt;b&gt;titel" in svg
    assert str(grouped_bars("r", "t", "d", SERIES, [])).startswith("<svg")

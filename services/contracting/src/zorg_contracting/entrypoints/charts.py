"""Charts of the year page as SVG drawn on the server: no script, no style attribute (the page's CSP allows
neither), readable without colour: each series has its own pattern, every bar carries its value in
text, and a legend names the patterns. The page puts the same figures in a table beside each chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

INK, PAPER = "#1f3a5f", "#ffffff"
_BLANK = f'<rect width="8" height="8" fill="{PAPER}"/>'
#: Black-and-white fills, each drawn in an 8x8 tile: the series differ without colour (print, grey
#: scale, colour blindness).
PATTERNS = {
    "solid": f'<rect width="8" height="8" fill="{INK}"/>',
    "hatch": _BLANK + f'<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="{INK}" stroke-width="2"/>',
    "dots": _BLANK + f'<circle cx="4" cy="4" r="1.8" fill="{INK}"/>',
    "lines": _BLANK + f'<path d="M0,4 h8" stroke="{INK}" stroke-width="2"/>',
    "cross": _BLANK + f'<path d="M0,0 l8,8 M8,0 l-8,8" stroke="{INK}" stroke-width="1.2"/>',
    "open": _BLANK,
}
LABEL_W, BAR_W, TOTAL_W = 200, 450, 110
WIDTH = LABEL_W + BAR_W + TOTAL_W
BAR_H, THIN_H, GAP, LEGEND_H = 26, 18, 16, 34


@dataclass(frozen=True)
class Series:
    """One kind of value in a chart: its key, its name in the legend and its pattern."""

    key: str
    name: str
    pattern: str


@dataclass(frozen=True)
class Bar:
    """One row of a chart: a label, and a value per series (text: how the value is written)."""

    label: str
    values: Sequence[tuple[str, int, str]]  # series key, value, text


def _defs(chart_id: str, series: Sequence[Series]) -> str:
    tiles = (
        f'<pattern id="{chart_id}-{s.key}" width="8" height="8" patternUnits="userSpaceOnUse">'
        f"{PATTERNS[s.pattern]}</pattern>"
        for s in series
    )
    return f"<defs>{''.join(tiles)}</defs>"


def _legend(chart_id: str, series: Sequence[Series]) -> str:
    parts, x = [], 0
    for s in series:
        parts.append(
            f'<rect x="{x}" y="6" width="18" height="18" fill="url(#{chart_id}-{s.key})" stroke="{INK}"/>'
            f'<text x="{x + 24}" y="20" class="legend">{escape(s.name)}</text>'
        )
        x += 30 + 8 * len(s.name)
    return "".join(parts)


def _label(middle: float, text: str) -> str:
    return f'<text x="{LABEL_W - 10}" y="{middle + 5}" text-anchor="end" class="label">{escape(text)}</text>'


def _rect(chart_id: str, key: str, x: float, y: float, w: float, h: float, tip: str) -> str:
    """A bar filled with its series' pattern, outlined, named when pointed at."""
    return (
        f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" fill="url(#{chart_id}-{key})" stroke="{INK}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _chip(x: float, y: float, text: str) -> str:
    """A value written on a bar, on a white chip so that it reads on any pattern."""
    w = 8 + 7 * len(text)
    return (
        f'<rect x="{x - w / 2:.1f}" y="{y - 10}" width="{w}" height="18" rx="3" fill="{PAPER}"/>'
        f'<text x="{x:.1f}" y="{y + 3}" text-anchor="middle" class="value">{escape(text)}</text>'
    )


def _frame(chart_id: str, title: str, description: str, height: int, body: str, series: Sequence[Series]) -> Markup:
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="chart" role="img"'
        f' aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
        f"{_defs(chart_id, series)}{_legend(chart_id, series)}{body}</svg>"
    )
    return Markup(svg)


def stacked_bars(chart_id: str, title: str, description: str, series: Sequence[Series], bars: Sequence[Bar]) -> Markup:
    """A horizontal bar per row, one segment per series (pattern and value), its total after it."""
    top = max((sum(v for _, v, _ in bar.values) for bar in bars), default=0) or 1
    body = []
    for i, bar in enumerate(bars):
        y = LEGEND_H + i * (BAR_H + GAP)
        body.append(_label(y + BAR_H / 2, bar.label))
        x, chips = float(LABEL_W), []
        for key, value, text in bar.values:
            if value <= 0:
                continue
            w = BAR_W * value / top
            body.append(_rect(chart_id, key, x, y, w, BAR_H, text))
            if w >= 8 + 7 * len(text):  # too narrow a segment keeps its value in the table and its tooltip
                chips.append(_chip(x + w / 2, y + BAR_H / 2, text))
            x += w
        body.extend(chips)
        total = sum(v for _, v, _ in bar.values)
        body.append(f'<text x="{x + 8:.1f}" y="{y + BAR_H / 2 + 5}" class="total">{total}</text>')
    height = LEGEND_H + max(1, len(bars)) * (BAR_H + GAP)
    return _frame(chart_id, title, description, height, "".join(body), series)


def grouped_bars(chart_id: str, title: str, description: str, series: Sequence[Series], bars: Sequence[Bar]) -> Markup:
    """Per row, one thin bar per series with a value (its pattern, and the value written after it)."""
    top = max((v for bar in bars for _, v, _ in bar.values), default=0) or 1
    body, y = [], LEGEND_H
    for bar in bars:
        values = {key: (value, text) for key, value, text in bar.values}
        shown = [s for s in series if s.key in values]
        block = THIN_H * len(shown) + 4 * (len(shown) - 1)
        body.append(_label(y + block / 2, bar.label))
        for s in shown:
            value, text = values[s.key]
            w = max(BAR_W * value / top, 1.0)
            body.append(_rect(chart_id, s.key, LABEL_W, y, w, THIN_H, f"{s.name}: {text}"))
            body.append(f'<text x="{LABEL_W + w + 6:.1f}" y="{y + THIN_H - 4}" class="value">{escape(text)}</text>')
            y += THIN_H + 4
        y += GAP
    return _frame(chart_id, title, description, max(y, LEGEND_H + BAR_H), "".join(body), series)

"""Line charts drawn with Pillow alone: training curves as a PNG for reports and the Dagster UI
(which shows images only inside markdown), with no plotting library at run time.

A chart is a column of panels; each panel has a title and named series of (x, y) points, drawn
on shared axes with the y range of its own data, first and last x and three y ticks labelled.
Points whose y is None or not finite are skipped (the line breaks there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

# Tableau-like colours, distinguishable on white.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127))
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 40, 22
DOTS_UP_TO = 60  # series with at most this many points also get a dot per point


@dataclass
class Panel:
    """One plot: a title and series name -> (xs, ys)."""

    title: str
    series: dict[str, tuple[Sequence[float], Sequence[float | None]]] = field(default_factory=dict)


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if 1000 <= abs(value) < 1e7:
        return f"{value:,.0f}"  # steps: 2,160
    if abs(value) >= 1e7 or abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:.3g}"


def _finite(y: float | None) -> bool:
    return y is not None and math.isfinite(y)


def _draw_panel(draw: ImageDraw.ImageDraw, panel: Panel, top: int, width: int, height: int,
                font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    x0, x1 = MARGIN_LEFT, width - MARGIN_RIGHT
    y0, y1 = top + MARGIN_TOP, top + height - MARGIN_BOTTOM
    draw.text((x0, top + 6), panel.title, fill=(0, 0, 0), font=font)
    draw.rectangle((x0, y0, x1, y1), outline=(160, 160, 160))
    points = [(x, y) for xs, ys in panel.series.values() for x, y in zip(xs, ys) if _finite(y)]
    if not points:
        draw.text((x0 + 8, (y0 + y1) // 2), "no data yet", fill=(120, 120, 120), font=font)
        return
    lo_x, hi_x = min(p[0] for p in points), max(p[0] for p in points)
    lo_y, hi_y = min(p[1] for p in points), max(p[1] for p in points)
    if hi_x == lo_x:
        lo_x, hi_x = lo_x - 1, hi_x + 1
    if hi_y == lo_y:
        lo_y, hi_y = lo_y - 1, hi_y + 1
    sx = lambda x: x0 + (x - lo_x) / (hi_x - lo_x) * (x1 - x0)
    sy = lambda y: y1 - (y - lo_y) / (hi_y - lo_y) * (y1 - y0)
    for value in (lo_y, (lo_y + hi_y) / 2, hi_y):
        y = sy(value)
        draw.line((x0 - 4, y, x0, y), fill=(120, 120, 120))
        text = _label(value)
        draw.text((x0 - 6 - draw.textlength(text, font=font), y - 6), text, fill=(60, 60, 60), font=font)
    for value, anchor in ((lo_x, "la"), (hi_x, "ra")):
        draw.text((sx(value), y1 + 4), _label(value), fill=(60, 60, 60), font=font, anchor=anchor)
    legend_x = x1 - 8
    for k, (name, (xs, ys)) in enumerate(reversed(list(panel.series.items()))):
        colour = PALETTE[(len(panel.series) - 1 - k) % len(PALETTE)]
        run: list[tuple[float, float]] = []
        dots = len(xs) <= DOTS_UP_TO
        for x, y in [*zip(xs, ys), (None, None)]:
            if x is not None and _finite(y):
                run.append((sx(x), sy(y)))
                if dots:
                    draw.ellipse((run[-1][0] - 3, run[-1][1] - 3, run[-1][0] + 3, run[-1][1] + 3), fill=colour)
                continue
            if len(run) > 1:
                draw.line(run, fill=colour, width=2)
            elif len(run) == 1:
                px, py = run[0]
                draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
            run = []
        text_w = draw.textlength(name, font=font)
        legend_x -= text_w + 22
        draw.line((legend_x, top + 29, legend_x + 14, top + 29), fill=colour, width=3)
        draw.text((legend_x + 17, top + 22), name, fill=(0, 0, 0), font=font)


def line_chart(panels: Sequence[Panel], *, width: int = 720, panel_height: int = 200) -> Image.Image:
    """The panels stacked top to bottom on a white RGB image of `width` x (panels x panel_height)."""
    if not panels:
        raise ValueError("a chart needs at least one panel")
    image = Image.new("RGB", (width, panel_height * len(panels)), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    for i, panel in enumerate(panels):
        _draw_panel(draw, panel, i * panel_height, width, panel_height, font)
    return image

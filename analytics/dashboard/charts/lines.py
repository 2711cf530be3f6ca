"""Line charts over time, with a hover column per time listing every series there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString

from analytics.dashboard.charts.axes import (
    legend,
    legend_rows,
    threshold_lines,
    x_time_axis,
    y_axis,
)
from analytics.dashboard.charts.canvas import (
    MARGIN_TOP,
    PLOT_HEIGHT,
    Frame,
    color,
    empty_chart,
    svg,
    time_scale,
)
from analytics.dashboard.charts.inputs import Format, Series, Threshold
from analytics.dashboard.charts.scales import nice_top, point_label


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    fmt: Format,
    start: datetime,
    end: datetime,
    thresholds: Sequence[Threshold] = (),
    empty: str = "No data in this window",
    whole: bool = False,
) -> SafeString:
    """Lines over time, one per series, with optional threshold lines."""
    values = [v for s in series for _, v in s.points if v is not None]
    if not values:
        return empty_chart(title, empty)
    top, step = nice_top(max([*values, *(t.value for t in thresholds)]), whole=whole)
    frame = Frame(top, legend_rows(len(series) + len(thresholds)))
    x = time_scale(frame, start, end)
    body = y_axis(frame, step, fmt, y_label) + x_time_axis(frame, start, end, x)
    body += _hover_columns(series, frame, fmt, x)
    body += threshold_lines(frame, thresholds, fmt)
    for index, line in enumerate(series):
        body += _line(line, color(index), frame, fmt, x)
    body += legend(frame, [(s.name, color(i), s.dashed) for i, s in enumerate(series)], thresholds)
    return svg(title, frame, body)


def _line(
    line: Series, stroke: str, frame: Frame, fmt: Format, x: Callable[[datetime], float]
) -> list[str]:
    commands, marks = [], []
    pen_down = False
    for moment, value in sorted(line.points, key=lambda point: point[0]):
        if value is None:
            pen_down = False
            continue
        px, py = x(moment), frame.y(value)
        commands.append(f"{'L' if pen_down else 'M'}{px:.1f},{py:.1f}")
        pen_down = True
        text = escape(f"{line.name} · {point_label(moment)}: {fmt(value)}")
        marks.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{stroke}"><title>{text}</title>'
            "</circle>"
        )
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    name = escape(line.name)
    return [
        f'<g class="series" data-series="{name}"><path d="{" ".join(commands)}" fill="none" '
        f'stroke="{stroke}" stroke-width="2"{dash}/>{"".join(marks)}</g>'
    ]


def _hover_columns(
    series: Sequence[Series], frame: Frame, fmt: Format, x: Callable[[datetime], float]
) -> list[str]:
    """Invisible columns, one per time, whose title lists every series' value there."""
    times = sorted({moment for s in series for moment, _ in s.points})
    if not times:
        return []
    lookup = [dict(s.points) for s in series]
    centres = [x(moment) for moment in times]
    parts = ['<g class="hover">']
    for index, moment in enumerate(times):
        lo = (centres[index - 1] + centres[index]) / 2 if index else frame.left
        hi = (centres[index] + centres[index + 1]) / 2 if index + 1 < len(times) else frame.right
        lines = [point_label(moment)] + [
            f"{s.name}: {fmt(value)}"
            for s, values in zip(series, lookup, strict=True)
            if (value := values.get(moment)) is not None
        ]
        parts.append(
            f'<rect x="{lo:.1f}" y="{MARGIN_TOP}" width="{max(hi - lo, 1):.1f}" '
            f'height="{PLOT_HEIGHT}" fill="transparent"><title>{escape(chr(10).join(lines))}'
            "</title></rect>"
        )
    parts.append("</g>")
    return parts

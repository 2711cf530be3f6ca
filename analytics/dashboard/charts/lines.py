"""Line charts over time, with a hover column per time listing every series there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString

from analytics.dashboard.charts.axes import (
    legend,
    legend_rows,
    partial_bands,
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
from analytics.dashboard.charts.inputs import Axis, Format, Series, Threshold
from analytics.dashboard.charts.scales import (
    YScale,
    fitted_rate_scale,
    log_scale,
    point_label,
    zero_scale,
)


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
    axis: Axis = "zero",
) -> SafeString:
    """Lines over time, one per series, with optional threshold lines; partial intervals are
    shaded and labelled, their points hollow."""
    values = [v for s in series for _, v in s.points if v is not None]
    if not values:
        return empty_chart(title, empty)
    frame = Frame(
        y_scale(axis, [*values, *(t.value for t in thresholds)], whole=whole),
        legend_rows(len(series) + len(thresholds)),
    )
    x = time_scale(frame, start, end)
    times = [moment for s in series for moment, _ in s.points]
    partial = frozenset(moment for s in series for moment in s.partial)
    body = partial_bands(frame, times, partial, x)
    body += y_axis(frame, fmt, y_label) + x_time_axis(frame, start, end, x)
    body += _hover_columns(series, frame, fmt, x)
    body += threshold_lines(frame, thresholds, fmt)
    for index, line in enumerate(series):
        body += _line(line, color(index), frame, fmt, x)
    body += legend(frame, [(s.name, color(i), s.dashed) for i, s in enumerate(series)], thresholds)
    return svg(title, frame, body)


def y_scale(axis: Axis, values: Sequence[float], *, whole: bool = False) -> YScale:
    """The y scale an axis kind draws `values` (and thresholds) on."""
    if axis == "log":
        return log_scale(values)
    if axis == "fitted":
        return fitted_rate_scale(values)
    return zero_scale(max(values), whole=whole)


def _line(
    line: Series, stroke: str, frame: Frame, fmt: Format, x: Callable[[datetime], float]
) -> list[str]:
    """The line as a solid path between whole intervals and a faint dashed one into and out
    of a partial interval, with a mark per point (hollow where the interval is partial)."""
    solid: list[str] = []
    faint: list[str] = []
    marks: list[str] = []
    previous: tuple[float, float, bool] | None = None
    for moment, value in sorted(line.points, key=lambda point: point[0]):
        if value is None:
            previous = None
            continue
        px, py = x(moment), frame.y(value)
        partial = moment in line.partial
        if previous is not None:
            (faint if partial or previous[2] else solid).append(
                f"M{previous[0]:.1f},{previous[1]:.1f}L{px:.1f},{py:.1f}"
            )
        elif not partial:
            solid.append(f"M{px:.1f},{py:.1f}")
        previous = (px, py, partial)
        note = " (partial interval)" if partial else ""
        text = escape(f"{line.name} · {point_label(moment)}: {fmt(value)}{note}")
        kind = ' class="partial-point" fill="#fff"' if partial else f' fill="{stroke}"'
        marks.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3"{kind} stroke="{stroke}">'
            f"<title>{text}</title></circle>"
        )
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    name = escape(line.name)
    paths = [f'<path d="{" ".join(solid)}" fill="none" stroke="{stroke}" stroke-width="2"{dash}/>']
    if faint:
        paths.append(
            f'<path class="partial-line" d="{" ".join(faint)}" fill="none" stroke="{stroke}" '
            f'stroke-width="1.5" stroke-opacity="0.55" stroke-dasharray="2 3"/>'
        )
    return [f'<g class="series" data-series="{name}">{"".join(paths)}{"".join(marks)}</g>']


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

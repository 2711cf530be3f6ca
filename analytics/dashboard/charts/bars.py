"""Bar charts: grouped vertical bars, stacked bars over time, horizontal bars."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

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
    WIDTH,
    Frame,
    color,
    empty_chart,
    svg,
    time_scale,
)
from analytics.dashboard.charts.inputs import Bars, Format, Threshold
from analytics.dashboard.charts.scales import point_label, zero_scale

# The reference a bar is read against (the article's figure for its category).
REFERENCE_LABEL = "Article reference"
REFERENCE_COLOR = "#1d2329"


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Bars],
    *,
    title: str,
    y_label: str,
    fmt: Format,
    thresholds: Sequence[Threshold] = (),
    empty: str = "No data in this window",
    whole: bool = False,
    ceiling: float | None = None,
    labels: bool = True,
) -> SafeString:
    """Grouped vertical bars: one group per category, one bar per series. With a `ceiling`,
    the axis stops there and a taller bar is cut at the top, marked and labelled with its
    value (one outage's bar would flatten every other); `labels=False` leaves the values to
    the hover titles, except those of cut bars."""
    values = [v for s in series for v in s.values if v is not None]
    if not categories or not values:
        return empty_chart(title, empty)
    marks = [high for s in series for mark in s.references if mark is not None for high in mark]
    legend_names = [(s.name, color(i), False) for i, s in enumerate(series)]
    if marks:
        legend_names.append((REFERENCE_LABEL, REFERENCE_COLOR, False))
    top = max([*values, *marks, *(t.value for t in thresholds)])
    if ceiling is not None:
        top = min(top, ceiling)
    frame = Frame(zero_scale(top, whole=whole), legend_rows(len(legend_names) + len(thresholds)))
    group_width = (frame.right - frame.left) / len(categories)
    bar_width = group_width * 0.8 / len(series)
    show_values = labels and len(categories) * len(series) <= 16
    body = y_axis(frame, fmt, y_label)
    for c_index, category in enumerate(categories):
        centre = frame.left + group_width * (c_index + 0.5)
        label = category if len(category) <= 18 else category[:17] + "…"
        body.append(
            f'<text x="{centre:.1f}" y="{frame.y0 + 16}" text-anchor="middle" fill="#444">'
            f"<title>{escape(category)}</title>{escape(label)}</text>"
        )
        for s_index, bars in enumerate(series):
            value = bars.values[c_index]
            if value is None:
                continue
            x = frame.left + group_width * c_index + group_width * 0.1 + bar_width * s_index
            y = frame.y(value)
            text = escape(f"{category} · {bars.name}: {fmt(value)}")
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" '
                f'height="{frame.y0 - y:.1f}" fill="{color(s_index)}"><title>{text}</title>'
                "</rect>"
            )
            cut = value > frame.scale.top
            if cut:  # a white break across the bar's top: it goes on past the axis
                body.append(
                    f'<path class="cut" d="M{x:.1f},{y + 8:.1f} l{bar_width / 2:.1f},-5 '
                    f'l{bar_width / 2:.1f},5" stroke="#fff" stroke-width="2.5" fill="none"/>'
                )
            if show_values or cut:
                # Cut bars stand side by side at the top: their labels alternate in height.
                lift = 3 + 12 * (s_index % 2) * cut
                body.append(
                    f'<text x="{x + bar_width / 2:.1f}" y="{y - lift:.1f}" '
                    f'text-anchor="middle" fill="#222">{escape(fmt(value))}</text>'
                )
        for s_index, bars in enumerate(series):
            mark = bars.references[c_index] if c_index < len(bars.references) else None
            if mark is not None:
                x = frame.left + group_width * c_index + group_width * 0.1 + bar_width * s_index
                body.append(_reference_mark(frame, x, bar_width, mark, category, bars.name, fmt))
    body += threshold_lines(frame, thresholds, fmt)
    body += legend(frame, legend_names, thresholds)
    return svg(title, frame, body)


def _reference_mark(
    frame: Frame,
    x: float,
    width: float,
    mark: tuple[float, float],
    category: str,
    name: str,
    fmt: Format,
) -> str:
    """The reference a bar is read against, drawn over it: a tick at a single value, a
    bracket from low to high for a range (drawn after the bars, so a tall bar never hides it)."""
    low, high = mark
    shown = fmt(low) if low == high else f"{fmt(low)} to {fmt(high)}"
    text = escape(f"{category} · {name}: {REFERENCE_LABEL.lower()} {shown}")
    left, right = x - 3, x + width + 3
    top, bottom = frame.y(high), frame.y(low)
    parts = [
        f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="{REFERENCE_COLOR}" stroke-width="2.5"/>'
        for y in sorted({top, bottom})
    ]
    if low != high:
        parts.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
            f'height="{max(bottom - top, 1):.1f}" fill="{REFERENCE_COLOR}" fill-opacity="0.12" '
            f'stroke="{REFERENCE_COLOR}" stroke-dasharray="3 2"/>'
        )
    return f'<g class="reference" data-low="{low}" data-high="{high}"><title>{text}</title>{"".join(parts)}</g>'


def stacked_time_bars(
    times: Sequence[datetime],
    series: Sequence[Bars],
    *,
    title: str,
    y_label: str,
    fmt: Format,
    start: datetime,
    end: datetime,
    step: timedelta,
    empty: str = "No data in this window",
    partial: Collection[datetime] = (),
) -> SafeString:
    """One stacked bar per time bucket of length `step`, one segment per series; the bars of
    `partial` buckets (cut by the window) are pale, under a shaded band labelled "partial"."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(times))]
    if not times or not any(totals):
        return empty_chart(title, empty)
    frame = Frame(zero_scale(max(totals)), legend_rows(len(series)))
    x = time_scale(frame, start, end)
    span = (end - start).total_seconds() or 1.0
    width = max((frame.right - frame.left) * step.total_seconds() / span * 0.8, 1.0)
    body = partial_bands(frame, times, partial, x)
    body += y_axis(frame, fmt, y_label) + x_time_axis(frame, start, end, x)
    for index, moment in enumerate(times):
        base = 0.0
        pale = ' fill-opacity="0.45"' if moment in partial else ""
        left = x(moment) + width * 0.1
        column = [f"{point_label(moment)} total: {fmt(totals[index])}"]
        for s_index, bars in enumerate(series):
            value = bars.values[index] or 0
            if not value:
                continue
            column.append(f"{bars.name}: {fmt(value)}")
            y_top, y_bottom = frame.y(base + value), frame.y(base)
            text = escape(f"{bars.name} · {point_label(moment)}: {fmt(value)}")
            body.append(
                f'<rect x="{left:.1f}" y="{y_top:.1f}" width="{width:.1f}" '
                f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{color(s_index)}"{pale}>'
                f"<title>{text}</title></rect>"
            )
            base += value
    body += legend(frame, [(s.name, color(i), False) for i, s in enumerate(series)], ())
    return svg(title, frame, body)


def hbar_chart(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    x_label: str,
    fmt: Format,
    empty: str = "No data in this window",
) -> SafeString:
    """Horizontal bars, one per labelled row (long names fit on the left)."""
    if not rows or not any(value for _, value in rows):
        return empty_chart(title, empty)
    scale = zero_scale(max(value for _, value in rows))
    top = scale.top
    row_height, left = 22, 190
    right = WIDTH - 90
    height = MARGIN_TOP + row_height * len(rows) + 40
    frame = Frame(scale, 0)
    frame.height = height
    body = []
    for value in scale.ticks:
        x = left + (value / top) * (right - left)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" '
            f'y2="{MARGIN_TOP + row_height * len(rows)}" stroke="#e3e6ea"/>'
            f'<text x="{x:.1f}" y="{MARGIN_TOP + row_height * len(rows) + 14}" '
            f'text-anchor="middle" fill="#444">{escape(fmt(value))}</text>'
        )
    for index, (name, value) in enumerate(rows):
        y = MARGIN_TOP + row_height * index
        length = (value / top) * (right - left)
        label = name if len(name) <= 26 else name[:25] + "…"
        text = escape(f"{name}: {fmt(value)}")
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="#222">'
            f"<title>{escape(name)}</title>{escape(label)}</text>"
            f'<rect x="{left}" y="{y + 4}" width="{max(length, 0.5):.1f}" height="{row_height - 8}" '
            f'fill="{color(0)}"><title>{text}</title></rect>'
            f'<text x="{left + length + 6:.1f}" y="{y + 15}" fill="#222">{escape(fmt(value))}</text>'
        )
    body.append(
        f'<text x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="#222" font-weight="600">{escape(x_label)}</text>'
    )
    return svg(title, frame, body)

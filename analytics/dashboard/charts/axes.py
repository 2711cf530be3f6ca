"""The parts around a plot: y and time axes, threshold lines and the legend."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from django.utils.html import escape

from analytics.dashboard.charts.canvas import (
    LEGEND_COLUMN,
    LEGEND_ROW,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_TOP,
    PLOT_HEIGHT,
    THRESHOLD_COLOR,
    WIDTH,
    Frame,
)
from analytics.dashboard.charts.inputs import Format, Threshold
from analytics.dashboard.charts.scales import time_label, time_ticks


def y_axis(frame: Frame, step: float, fmt: Format, y_label: str) -> list[str]:
    """Gridlines with their values, the axis title, and the y and x axis lines."""
    parts = []
    ticks = round(frame.top / step) if step else 0
    for index in range(ticks + 1):
        value = index * step
        y = frame.y(value)
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e6ea"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">'
            f"{escape(fmt(value))}</text>"
        )
    middle = MARGIN_TOP + PLOT_HEIGHT / 2
    parts.append(
        f'<text x="12" y="{middle:.1f}" transform="rotate(-90 12 {middle:.1f})" '
        f'text-anchor="middle" fill="#222" font-weight="600">{escape(y_label)}</text>'
        f'<line x1="{frame.left}" x2="{frame.left}" y1="{MARGIN_TOP}" y2="{frame.y0}" '
        f'stroke="#888"/>'
        f'<line x1="{frame.left}" x2="{frame.right}" y1="{frame.y0}" y2="{frame.y0}" '
        f'stroke="#888"/>'
    )
    return parts


def x_time_axis(
    frame: Frame, start: datetime, end: datetime, x: Callable[[datetime], float]
) -> list[str]:
    """Time ticks with their labels along the x axis, and its title."""
    parts = []
    for tick in time_ticks(start, end):
        position = x(tick)
        parts.append(
            f'<line x1="{position:.1f}" x2="{position:.1f}" y1="{frame.y0}" '
            f'y2="{frame.y0 + 4}" stroke="#888"/>'
            f'<text x="{position:.1f}" y="{frame.y0 + 16}" text-anchor="middle" fill="#444">'
            f"{escape(time_label(tick, end - start))}</text>"
        )
    parts.append(
        f'<text x="{(frame.left + frame.right) / 2:.1f}" y="{frame.y0 + 34}" '
        f'text-anchor="middle" fill="#222" font-weight="600">Time (UTC)</text>'
    )
    return parts


def threshold_lines(frame: Frame, thresholds: Sequence[Threshold], fmt: Format) -> list[str]:
    """Dashed horizontal lines, each labelled with its name and value."""
    parts = []
    labelled: list[float] = []
    for threshold in thresholds:
        y = frame.y(threshold.value)
        text = escape(f"{threshold.label}: {fmt(threshold.value)}")
        # Lines close together would print their labels over each other: alternate sides.
        crowded = any(abs(y - other) < 14 for other in labelled)
        x, anchor = (frame.left + 4, "start") if crowded else (frame.right - 4, "end")
        labelled.append(y)
        parts.append(
            f'<g class="threshold"><title>{text}</title>'
            f'<line x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{THRESHOLD_COLOR}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{x}" y="{y - 4:.1f}" text-anchor="{anchor}" '
            f'fill="{THRESHOLD_COLOR}">{text}</text></g>'
        )
    return parts


def legend(
    frame: Frame, names: Sequence[tuple[str, str, bool]], thresholds: Sequence[Threshold]
) -> list[str]:
    """Swatches under the axis title: (name, colour, dashed) per series, then thresholds."""
    entries = [*names, *((t.label, THRESHOLD_COLOR, True) for t in thresholds)]
    per_row = max(1, (WIDTH - MARGIN_LEFT) // LEGEND_COLUMN)
    parts = ['<g class="legend">']
    for index, (name, color, dashed) in enumerate(entries):
        x = MARGIN_LEFT + (index % per_row) * LEGEND_COLUMN
        y = frame.y0 + MARGIN_BOTTOM + (index // per_row) * LEGEND_ROW + 4
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        label = name if len(name) <= 32 else name[:31] + "…"
        parts.append(
            f"<g><title>{escape(name)}</title>"
            f'<line x1="{x}" x2="{x + 18}" y1="{y}" y2="{y}" stroke="{color}" '
            f'stroke-width="3"{dash}/>'
            f'<text x="{x + 24}" y="{y + 4}" fill="#222">{escape(label)}</text></g>'
        )
    parts.append("</g>")
    return parts


def legend_rows(count: int) -> int:
    """How many legend rows `count` entries take."""
    per_row = max(1, (WIDTH - MARGIN_LEFT) // LEGEND_COLUMN)
    return math.ceil(count / per_row) if count else 0

"""The parts around a plot: y and time axes, threshold lines and the legend."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
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
from analytics.dashboard.charts.scales import point_label, time_label, time_ticks

LABEL_GAP = 14  # pixels between the baselines of stacked threshold labels
# Characters of a legend label that fit its column beside the swatch (about 7 px each at
# 12 px, wide letters included); longer names are shortened, whole on hover.
LEGEND_CHARS = 28


def y_axis(frame: Frame, fmt: Format, y_label: str) -> list[str]:
    """Gridlines at the scale's ticks with their values, the axis title, and the axis lines."""
    parts = []
    for value in frame.scale.ticks:
        y = frame.y(value)
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e6ea"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">'
            f"{escape(fmt(value))}</text>"
        )
    middle = MARGIN_TOP + PLOT_HEIGHT / 2
    title = f"{y_label} (log scale)" if frame.scale.log else y_label
    parts.append(
        f'<text x="12" y="{middle:.1f}" transform="rotate(-90 12 {middle:.1f})" '
        f'text-anchor="middle" fill="#222" font-weight="600">{escape(title)}</text>'
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


def label_positions(ys: Sequence[float], *, low: float, high: float) -> list[float]:
    """Baselines for labels wanted just above heights `ys`, at least LABEL_GAP apart and
    between `low` and `high` (pixel heights, `low` < `high`): close lines get stacked labels
    instead of labels printed over each other. Answers in the order of `ys`."""
    order = sorted(range(len(ys)), key=lambda index: ys[index])
    placed: dict[int, float] = {}
    previous = -math.inf
    for index in order:  # top to bottom: push each label down below the one above it
        baseline = max(ys[index] - 4, low, previous + LABEL_GAP)
        placed[index] = previous = baseline
    overflow = previous - high
    if overflow > 0:  # the lowest went past the bottom: lift the stack, keeping the gaps
        for index in placed:
            placed[index] -= overflow
    return [placed[index] for index in range(len(ys))]


def threshold_lines(frame: Frame, thresholds: Sequence[Threshold], fmt: Format) -> list[str]:
    """Dashed horizontal lines, each labelled with its name and value; labels of lines close
    together are stacked, never drawn over each other."""
    ys = [frame.y(threshold.value) for threshold in thresholds]
    baselines = label_positions(ys, low=MARGIN_TOP + 14, high=frame.y0 - 4)
    parts = []
    for threshold, y, baseline in zip(thresholds, ys, baselines, strict=True):
        text = escape(f"{threshold.label}: {fmt(threshold.value)}")
        parts.append(
            f'<g class="threshold" data-value="{threshold.value}"><title>{text}</title>'
            f'<line x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{THRESHOLD_COLOR}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text class="threshold-label" x="{frame.right - 4}" y="{baseline:.1f}" '
            f'text-anchor="end" fill="{THRESHOLD_COLOR}" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke">{text}</text></g>'
        )
    return parts


def partial_bands(
    frame: Frame,
    times: Sequence[datetime],
    partial: Collection[datetime],
    x: Callable[[datetime], float],
) -> list[str]:
    """A shaded band over each partial interval (the window cuts it), labelled "partial",
    so its lower count reads as the cut it is, not as a dip."""
    ordered = sorted(set(times))
    parts = []
    for index, moment in enumerate(ordered):
        if moment not in partial:
            continue
        left = x(moment)
        right = x(ordered[index + 1]) if index + 1 < len(ordered) else frame.right
        first = index == 0
        label_x, anchor = (left + 2, "start") if first else (right - 2, "end")
        parts.append(
            f'<g class="partial" data-time="{moment.isoformat()}">'
            f"<title>{escape(point_label(moment))}: partial interval (the window cuts it)"
            f'</title><rect x="{left:.1f}" y="{MARGIN_TOP}" width="{max(right - left, 1):.1f}" '
            f'height="{PLOT_HEIGHT}" fill="#8a94a0" fill-opacity="0.13"/>'
            f'<text x="{label_x:.1f}" y="{MARGIN_TOP - 5}" text-anchor="{anchor}" '
            f'font-size="10" fill="#5b6570">partial</text></g>'
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
        label = name if len(name) <= LEGEND_CHARS else name[: LEGEND_CHARS - 1] + "…"
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

"""Charts as SVG markup rendered on the server: no script, no third-party asset.

Every point, bar and segment carries an SVG `<title>`, so hovering shows its exact value;
axes have visible tick labels and a title, and a legend names each series and threshold.
All text is escaped; the functions are pure (data in, markup out).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f7f7f", "#000000")
THRESHOLD_COLOR = "#c0392b"
WIDTH = 760
PLOT_HEIGHT = 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 84, 20, 40, 46
LEGEND_ROW = 20
LEGEND_COLUMN = 225
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
TIME_STEPS = [
    timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)
] + [timedelta(days=d) for d in (7, 14, 30, 60, 90)]
EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so weekly ticks fall on Mondays

Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """A named line over time; None values leave a gap."""

    name: str
    points: Sequence[tuple[datetime, float | None]]
    dashed: bool = False


@dataclass(frozen=True)
class Bars:
    """A named series of bar values, one per category (or time bucket)."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Threshold:
    """A horizontal line drawn across the plot (an alert threshold, a budget amount)."""

    value: float
    label: str


# --- Scales and axes ----------------------------------------------------------------------


def nice_top(top: float, *, whole: bool = False) -> tuple[float, float]:
    """A round upper bound for the y axis and its tick step (about four ticks); `whole`
    keeps steps to whole numbers (counts)."""
    if top <= 0 or not math.isfinite(top):
        return (4.0, 1.0) if whole else (1.0, 0.25)
    raw_step = top / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    if whole:
        step = max(1.0, float(math.ceil(step)))
    return step * math.ceil(top / step - 1e-9), step


def time_ticks(start: datetime, end: datetime, most: int = 7) -> list[datetime]:
    """Round times (every 15 min, 6 h, a day...) between start and end, at most `most`."""
    span = end - start
    step = next((s for s in TIME_STEPS if span / s <= most), TIME_STEPS[-1])
    first = EPOCH + math.ceil((start - EPOCH) / step) * step
    ticks = []
    moment = first
    while moment <= end:
        ticks.append(moment)
        moment += step
    return ticks


def time_label(moment: datetime, span: timedelta) -> str:
    """A tick's time, as precise as the span needs (`10:00`, `25 Nov 10:00`, `25 Nov`)."""
    moment = moment.astimezone(UTC)
    if span <= timedelta(hours=36):
        return moment.strftime("%H:%M")
    if span <= timedelta(days=8):
        return moment.strftime("%d %b %H:%M")
    return moment.strftime("%d %b")


def point_label(moment: datetime) -> str:
    """An exact time in UTC, as hover titles and the tables' `utc` filter show it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class _Frame:
    """Plot geometry: maps values and times to pixels inside the margins."""

    def __init__(self, top: float, legend_rows: int) -> None:
        self.top = top
        self.left = MARGIN_LEFT
        self.right = WIDTH - MARGIN_RIGHT
        self.y0 = MARGIN_TOP + PLOT_HEIGHT
        self.height = MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM + legend_rows * LEGEND_ROW + 6

    def y(self, value: float) -> float:
        """The pixel height of a value (0 at the axis, the top at the plot's top)."""
        return self.y0 - (value / self.top) * PLOT_HEIGHT if self.top else self.y0


def _time_scale(frame: _Frame, start: datetime, end: datetime) -> Callable[[datetime], float]:
    """Maps a time to its x pixel: start at the left edge, end at the right (outside, clamped)."""
    span = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        share = (moment - start).total_seconds() / span
        return frame.left + min(max(share, 0.0), 1.0) * (frame.right - frame.left)

    return x


def _svg(title: str, frame: _Frame, body: list[str]) -> SafeString:
    label = escape(title)
    return mark_safe(  # noqa: S308  (every text below went through escape())
        f'<svg class="chart" viewBox="0 0 {WIDTH} {frame.height}" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f'<title>{label}</title><text x="8" y="20" font-size="14" font-weight="650" '
        f'fill="#1d2329">{label}</text>{"".join(body)}</svg>'
    )


def _y_axis(frame: _Frame, step: float, fmt: Format, y_label: str) -> list[str]:
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


def _x_time_axis(
    frame: _Frame, start: datetime, end: datetime, x: Callable[[datetime], float]
) -> list[str]:
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


def _thresholds(frame: _Frame, thresholds: Sequence[Threshold], fmt: Format) -> list[str]:
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


def _legend(
    frame: _Frame, names: Sequence[tuple[str, str, bool]], thresholds: Sequence[Threshold]
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


def _legend_rows(count: int) -> int:
    per_row = max(1, (WIDTH - MARGIN_LEFT) // LEGEND_COLUMN)
    return math.ceil(count / per_row) if count else 0


def _empty(title: str, message: str) -> SafeString:
    frame = _Frame(1.0, 0)
    return _svg(
        title,
        frame,
        [
            f'<text x="{WIDTH / 2}" y="{frame.height / 2}" text-anchor="middle" fill="#666">'
            f"{escape(message)}</text>"
        ],
    )


def color(index: int) -> str:
    """The palette's colour for the n-th series, round again past the last."""
    return PALETTE[index % len(PALETTE)]


# --- Charts -------------------------------------------------------------------------------


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
        return _empty(title, empty)
    top, step = nice_top(max([*values, *(t.value for t in thresholds)]), whole=whole)
    frame = _Frame(top, _legend_rows(len(series) + len(thresholds)))
    x = _time_scale(frame, start, end)
    body = _y_axis(frame, step, fmt, y_label) + _x_time_axis(frame, start, end, x)
    body += _hover_columns(series, frame, fmt, x)
    body += _thresholds(frame, thresholds, fmt)
    for index, line in enumerate(series):
        body += _line(line, color(index), frame, fmt, x)
    body += _legend(frame, [(s.name, color(i), s.dashed) for i, s in enumerate(series)], thresholds)
    return _svg(title, frame, body)


def _line(
    line: Series, stroke: str, frame: _Frame, fmt: Format, x: Callable[[datetime], float]
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
    series: Sequence[Series], frame: _Frame, fmt: Format, x: Callable[[datetime], float]
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
            f"{s.name}: {fmt(values[moment])}"
            for s, values in zip(series, lookup, strict=True)
            if values.get(moment) is not None
        ]
        parts.append(
            f'<rect x="{lo:.1f}" y="{MARGIN_TOP}" width="{max(hi - lo, 1):.1f}" '
            f'height="{PLOT_HEIGHT}" fill="transparent"><title>{escape(chr(10).join(lines))}'
            "</title></rect>"
        )
    parts.append("</g>")
    return parts


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
) -> SafeString:
    """Grouped vertical bars: one group per category, one bar per series."""
    values = [v for s in series for v in s.values if v is not None]
    if not categories or not values:
        return _empty(title, empty)
    top, step = nice_top(max([*values, *(t.value for t in thresholds)]), whole=whole)
    frame = _Frame(top, _legend_rows(len(series) + len(thresholds)))
    group_width = (frame.right - frame.left) / len(categories)
    bar_width = group_width * 0.8 / len(series)
    show_values = len(categories) * len(series) <= 16
    body = _y_axis(frame, step, fmt, y_label)
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
            if show_values:
                body.append(
                    f'<text x="{x + bar_width / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                    f'fill="#222">{escape(fmt(value))}</text>'
                )
    body += _thresholds(frame, thresholds, fmt)
    body += _legend(frame, [(s.name, color(i), False) for i, s in enumerate(series)], thresholds)
    return _svg(title, frame, body)


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
) -> SafeString:
    """One stacked bar per time bucket of length `step`, one segment per series."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(times))]
    if not times or not any(totals):
        return _empty(title, empty)
    top, tick = nice_top(max(totals))
    frame = _Frame(top, _legend_rows(len(series)))
    x = _time_scale(frame, start, end)
    span = (end - start).total_seconds() or 1.0
    width = max((frame.right - frame.left) * step.total_seconds() / span * 0.8, 1.0)
    body = _y_axis(frame, tick, fmt, y_label) + _x_time_axis(frame, start, end, x)
    for index, moment in enumerate(times):
        base = 0.0
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
                f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{color(s_index)}">'
                f"<title>{text}</title></rect>"
            )
            base += value
    body += _legend(frame, [(s.name, color(i), False) for i, s in enumerate(series)], ())
    return _svg(title, frame, body)


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
        return _empty(title, empty)
    top, step = nice_top(max(value for _, value in rows))
    row_height, left = 22, 190
    right = WIDTH - 90
    height = MARGIN_TOP + row_height * len(rows) + 40
    frame = _Frame(top, 0)
    frame.height = height
    body = []
    ticks = round(top / step)
    for index in range(ticks + 1):
        value = index * step
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
    return _svg(title, frame, body)

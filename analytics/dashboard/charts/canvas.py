"""The drawing surface: sizes, colours, the plot frame, the <svg> wrapper and the empty chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from analytics.dashboard.charts.scales import YScale, zero_scale

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f7f7f", "#000000")
THRESHOLD_COLOR = "#c0392b"
WIDTH = 760
PLOT_HEIGHT = 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 84, 20, 40, 46
LEGEND_ROW = 20
LEGEND_COLUMN = 225
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


class Frame:
    """Plot geometry: maps values (through its y scale) and times to pixels in the margins."""

    def __init__(self, scale: YScale, legend_rows: int) -> None:
        self.scale = scale
        self.top = scale.top
        self.left = MARGIN_LEFT
        self.right = WIDTH - MARGIN_RIGHT
        self.y0 = MARGIN_TOP + PLOT_HEIGHT
        self.height = MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM + legend_rows * LEGEND_ROW + 6

    def y(self, value: float) -> float:
        """The pixel height of a value (the scale's bottom at the axis, its top at the top)."""
        return self.y0 - self.scale.share(value) * PLOT_HEIGHT


def time_scale(frame: Frame, start: datetime, end: datetime) -> Callable[[datetime], float]:
    """Maps a time to its x pixel: start at the left edge, end at the right (outside, clamped)."""
    span = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        share = (moment - start).total_seconds() / span
        return frame.left + min(max(share, 0.0), 1.0) * (frame.right - frame.left)

    return x


def svg(title: str, frame: Frame, body: list[str]) -> SafeString:
    """The chart's <svg> element: its title shown and named for screen readers, then the body."""
    label = escape(title)
    return mark_safe(  # noqa: S308  (every text below went through escape())
        f'<svg class="chart" viewBox="0 0 {WIDTH} {frame.height}" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f'<title>{label}</title><text x="8" y="20" font-size="14" font-weight="650" '
        f'fill="#1d2329">{label}</text>{"".join(body)}</svg>'
    )


def empty_chart(title: str, message: str) -> SafeString:
    """A titled chart holding only a message (no data in the window)."""
    frame = Frame(zero_scale(1.0), 0)
    return svg(
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

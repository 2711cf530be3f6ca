"""Round axis bounds and time ticks, and how a time reads on an axis and in a title."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TIME_STEPS = [
    timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)
] + [timedelta(days=d) for d in (7, 14, 30, 60, 90)]
EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so weekly ticks fall on Mondays


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


@dataclass(frozen=True)
class YScale:
    """A y axis: its bounds, the values it labels, and whether it is logarithmic."""

    bottom: float
    top: float
    ticks: tuple[float, ...]
    log: bool = False

    def share(self, value: float) -> float:
        """How far up the plot a value sits, 0 at the bottom and 1 at the top (clamped)."""
        if self.log:
            value = max(value, self.bottom)
            low, high, at = math.log10(self.bottom), math.log10(self.top), math.log10(value)
        else:
            low, high, at = self.bottom, self.top, value
        if high <= low:
            return 0.0
        return min(max((at - low) / (high - low), 0.0), 1.0)


def zero_scale(top: float, *, whole: bool = False) -> YScale:
    """From zero to a round top (counts, money, bars)."""
    rounded, step = nice_top(top, whole=whole)
    count = round(rounded / step)
    return YScale(0.0, rounded, tuple(index * step for index in range(count + 1)))


def log_scale(values: Iterable[float]) -> YScale:
    """Whole decades around the positive values: one slow outage no longer flattens the
    rest. Ticks at 1, 2 and 5 of each decade while there are few decades, else decades only."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return YScale(1.0, 10.0, (1.0, 2.0, 5.0, 10.0), log=True)
    low = math.floor(math.log10(min(positive)))
    high = max(math.ceil(math.log10(max(positive))), low + 1)
    steps = (1, 2, 5) if high - low <= 3 else (1,)
    ticks = [m * 10.0**d for d in range(low, high) for m in steps] + [10.0**high]
    return YScale(10.0**low, 10.0**high, tuple(ticks), log=True)


def fitted_rate_scale(values: Iterable[float]) -> YScale:
    """A rate axis fitted to the data: from a little under the smallest value to a little over
    the largest, on round steps and inside 0-100%, so 99.2% and 99.9% do not draw as one line."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return zero_scale(1.0)
    low, high = min(finite), max(finite)
    pad = max((high - low) * 0.1, 0.002)
    bottom, top = max(low - pad, 0.0), min(high + pad, 1.0)
    raw_step = (top - bottom) / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    bottom = max(step * math.floor(bottom / step + 1e-9), 0.0)
    top = min(step * math.ceil(top / step - 1e-9), 1.0)
    count = round((top - bottom) / step)
    ticks = tuple(round(bottom + index * step, 12) for index in range(count + 1))
    return YScale(bottom, top, tuple(tick for tick in ticks if tick <= top + 1e-12))


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

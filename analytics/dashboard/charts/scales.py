"""Round axis bounds and time ticks, and how a time reads on an axis and in a title."""

from __future__ import annotations

import math
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

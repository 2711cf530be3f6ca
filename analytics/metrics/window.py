"""Windows of time and the rollup grains that cover them exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

GRAIN_STEP = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
INTERVAL_GRAIN = {"minute": "m", "hour": "h", "day": "d"}


def floor_to(moment: datetime, grain: str) -> datetime:
    moment = moment.astimezone(UTC)
    if grain == "m":
        return moment.replace(second=0, microsecond=0)
    if grain == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_to(moment: datetime, grain: str) -> datetime:
    floored = floor_to(moment, grain)
    return floored if floored == moment else floored + GRAIN_STEP[grain]


@dataclass(frozen=True)
class Window:
    """A half-open window [start, end) of whole minutes."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Window:
        return cls(floor_to(start, "m"), floor_to(end, "m"))

    def pieces(self, coarsest: str = "d") -> list[tuple[str, datetime, datetime]]:
        """(grain, lo, hi) spans that tile the window using the coarsest rollups that fit:
        whole days, then whole hours, then minutes at the edges."""
        order = ["d", "h", "m"]
        grains = order[order.index(coarsest) :]
        return _tile(self.start, self.end, grains)

    def previous(self) -> Window:
        """The window of the same length just before this one (for changes over time). The
        API keeps windows to 1970 and later and at most 400 days long, so it stays on the
        calendar."""
        return Window(self.start - (self.end - self.start), self.start)


def _tile(
    start: datetime, end: datetime, grains: list[str]
) -> list[tuple[str, datetime, datetime]]:
    if start >= end:
        return []
    grain, finer = grains[0], grains[1:]
    if not finer:
        return [(grain, start, end)]
    inner_start, inner_end = ceil_to(start, grain), floor_to(end, grain)
    if inner_start >= inner_end:
        return _tile(start, end, finer)
    return [
        *_tile(start, inner_start, finer),
        (grain, inner_start, inner_end),
        *_tile(inner_end, end, finer),
    ]

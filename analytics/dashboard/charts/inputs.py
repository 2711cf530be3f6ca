"""What a chart is drawn from: lines, bars, threshold lines and the format of a value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Format = Callable[[float], str]
# How a line chart's y axis is drawn: from zero (counts, money), on decades (latency: one slow
# outage does not flatten the rest), or fitted to the data (rates such as availability).
Axis = Literal["zero", "log", "fitted"]


@dataclass(frozen=True)
class Series:
    """A named line over time; None values leave a gap. Points at `partial` times stand for
    intervals the window cuts (the first and the last): drawn hollow, joined by a faint line."""

    name: str
    points: Sequence[tuple[datetime, float | None]]
    dashed: bool = False
    partial: frozenset[datetime] = frozenset()


@dataclass(frozen=True)
class Bars:
    """A named series of bar values, one per category (or time bucket), and optionally the
    reference each bar is read against, (low, high) per category (low == high: one value)."""

    name: str
    values: Sequence[float | None]
    references: Sequence[tuple[float, float] | None] = ()


@dataclass(frozen=True)
class Threshold:
    """A horizontal line drawn across the plot (an alert threshold, a budget amount)."""

    value: float
    label: str

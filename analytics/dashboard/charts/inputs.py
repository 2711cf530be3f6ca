"""What a chart is drawn from: lines, bars, threshold lines and the format of a value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

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

"""Numbers for people, always with their unit, and how a figure moved against the window
before. Raw values stay in the pages' `data-value` attributes; these are only what is read.
Money, rates, ratios and multiples come from `analytics.formatting`, shared with the emails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from analytics.formatting import NA, multiple, percent, ratio_percent, usd


def count(value: int | float | None, unit: str = "") -> str:
    """`1,234 requests`."""
    if value is None:
        return NA
    text = f"{int(value):,}"
    if unit and int(value) == 1 and unit.endswith("s"):
        unit = unit[:-1]  # "1 request", not "1 requests"
    return f"{text} {unit}" if unit else text


def amount(value: float) -> str:
    """A chart tick of a count: whole numbers plainly, halves with their decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def ms(value: float | None) -> str:
    """A duration in milliseconds: `140.5 ms`, `1,234 ms`."""
    if value is None:
        return NA
    return f"{value:,.0f} ms" if abs(value) >= 1000 else f"{value:,.1f} ms"


def seconds(value: float | None) -> str:
    """A duration in seconds: `95 s`, `4 min 10 s`."""
    if value is None:
        return NA
    whole = round(value)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60} s"


FORMATS: dict[str, Callable[[Any], str]] = {
    "count": count,
    "rate": percent,
    "ms": ms,
    "money": usd,
    "multiple": multiple,
    "roi": ratio_percent,
}


def show(kind: str, value: Any, unit: str = "") -> str:
    """A figure's value in its kind's format (counts with their unit)."""
    return count(value, unit) if kind == "count" else FORMATS[kind](value)


def raw(value: Any) -> str:
    """What `data-value` holds: the API's value as text (money stays its decimal string)."""
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Change:
    """How a figure moved against the previous window, and whether that is good."""

    text: str
    tone: str  # "good", "bad" or "neutral", for colour
    compared: bool = True  # False: there was nothing to compare with


def change(kind: str, current: Any, previous: Any, *, better: str | None) -> Change:
    """How `current` moved from `previous`: absolute (percentage points for rates) and, for
    amounts, relative. `better` is "higher", "lower" or None (no judgement)."""
    if current is None or previous is None:
        return Change("nothing to compare with in the previous window", "neutral", False)
    now, before = Decimal(str(current)), Decimal(str(previous))
    delta = now - before
    if not delta:
        return Change("no change", "neutral")
    sign = "+" if delta > 0 else "-"
    size = abs(delta)
    if kind == "rate":
        text = f"{sign}{size * 100:,.2f} pp"
    elif kind == "roi":  # a percentage itself: its move is in points, as rates' are
        text = f"{sign}{size * 100:,.0f} pp"
    elif kind == "multiple":
        text = f"{sign}{show(kind, float(size))}"
    else:
        text = f"{sign}{show(kind, size if kind == 'money' else float(size))}"
        text += f" ({sign}{size / abs(before) * 100:,.1f}%)" if before else " (none before)"
    tone = "neutral"
    if better is not None:
        tone = "good" if (delta > 0) == (better == "higher") else "bad"
    return Change(text, tone)


@dataclass(frozen=True)
class Figure:
    """A headline number: `data-metric` name, label, raw and shown value, and its change."""

    metric: str
    label: str
    value: Any
    display: str
    previous: Any = None
    change: Change | None = None
    note: str = ""

    @property
    def data_value(self) -> str:
        """The value as `data-value` holds it."""
        return raw(self.value)

    @property
    def data_previous(self) -> str:
        """The previous window's value as `data-previous` holds it."""
        return raw(self.previous)


def figure(
    metric: str,
    label: str,
    kind: str,
    value: Any,
    *,
    unit: str = "",
    note: str = "",
    previous: Any = None,
    compare: bool = False,
    better: str | None = None,
) -> Figure:
    """A Figure, with its change when `compare` (the previous window's value is `previous`)."""
    return Figure(
        metric=metric,
        label=label,
        value=value,
        display=show(kind, value, unit),
        previous=previous if compare else None,
        change=change(kind, value, previous, better=better) if compare else None,
        note=note,
    )

"""Template filters for the dashboard's tables: every number with its unit
(`{{ row.cost_usd|usd }}`, `{{ row.share|pct }}`), and raw values for `data-value`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from analytics import formatting as shared
from analytics.dashboard import charts, formatting

register = template.Library()


@register.filter
def usd(value: Any) -> str:
    """Money in dollars and cents (`$1,234.56`)."""
    return shared.usd(value)


@register.filter
def pct(value: float | None) -> str:
    """A rate as a percent (`12.5%`)."""
    return shared.percent(value)


@register.filter
def ms(value: float | None) -> str:
    """Milliseconds with their unit."""
    return formatting.ms(value)


@register.filter
def secs(value: float | None) -> str:
    """Seconds, as minutes and seconds past a minute."""
    return formatting.seconds(value)


@register.filter
def num(value: int | None, unit: str = "") -> str:
    """A count with its unit (`1,234 requests`)."""
    return formatting.count(value, unit)


@register.filter
def raw(value: Any) -> str:
    """The value as the API gives it, for `data-value` (empty for null)."""
    return formatting.raw(value)


@register.filter
def utc(value: Any) -> str:
    """A datetime (or ISO string) as `2026-11-25 10:00 UTC`."""
    if not value:
        return shared.NA
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return charts.point_label(moment)

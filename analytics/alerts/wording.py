"""How an alert's figures read in its summary and its mail: rates as percents, latencies in
ms, money in dollars, and how far past its line a value is."""

from __future__ import annotations

from decimal import Decimal

from analytics.formatting import usd
from governance.models import AlertKind

RATE_KINDS = {AlertKind.OVER_INTERCEPTION, AlertKind.ERROR_RATE, AlertKind.MODEL_FAILURE}


def percent(value: float | None) -> str:
    """A rate as a percent with two decimals, `n/a` without one."""
    return "n/a" if value is None else f"{value * 100:.2f}%"


def crossing_shown(
    kind: str, value: Decimal | float | None, threshold: Decimal | float | None
) -> dict[str, str]:
    """The value, the line it is judged against and how far past it, with units, for mail.
    Money is worked in Decimal (a float read as the decimal it prints as), the rest in float."""
    if value is None or threshold is None:
        return {"value_shown": "n/a", "threshold_shown": "n/a", "excess_shown": ""}
    if kind == AlertKind.COST_OVERRUN:
        money_value, money_threshold = Decimal(str(value)), Decimal(str(threshold))
        difference = money_value - money_threshold
        shown_value, shown_threshold = usd(money_value), usd(money_threshold)
        excess = ("+" if difference >= 0 else "-") + usd(abs(difference))
    else:
        number, line = float(value), float(threshold)
        shown_value, shown_threshold = _figure_shown(kind, number), _figure_shown(kind, line)
        if kind in RATE_KINDS:
            excess = f"{(number - line) * 100:+.2f} points"
        else:
            excess = ("+" if number >= line else "-") + _figure_shown(kind, abs(number - line))
    if threshold:
        excess += f", {float(value) / float(threshold):.1f}x the threshold"  # a ratio: a float
    return {
        "value_shown": shown_value,
        "threshold_shown": shown_threshold,
        "excess_shown": excess,
    }


def _figure_shown(kind: str, number: float) -> str:
    """A rate, a latency, an hour or finding count or a PSI in its unit."""
    if kind in RATE_KINDS:
        return f"{number:.2%}"
    if kind == AlertKind.LATENCY_SLO:
        return f"{number:,.1f} ms"
    if kind == AlertKind.ROLLUP_MISMATCH:
        return f"{number:.0f} hours"
    if kind == AlertKind.ARCHITECTURE_MISMATCH:
        return f"{number:.0f} findings"
    return f"{number:.3f}"  # routing drift: a PSI

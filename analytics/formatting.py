"""Figures for people, shared by the dashboard and the emails so both show a number the same
way: money in dollars and cents, rates and ratios as percents, multiples, budget states and
scopes, and CSV cells that a spreadsheet will not run as formulas."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from governance.models import Budget, ScopeKind

NA = "—"  # a figure without a value (a rate of nothing, a ratio without a denominator)
CENT = Decimal("0.01")
MONEY_PLACES = Decimal("1e-8")  # money is stored with eight places
BUDGET_STATUS_LABELS = {  # the states of analytics.metrics.budgets.BudgetStatus.status
    "ok": "on track",
    "forecast_to_exceed": "forecast to exceed",
    "exceeded": "exceeded",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def usd(amount: Decimal | str | float | None, *, na: str = NA) -> str:
    """Money in cents (`$1,234.56`, `$0.50`); four places below a dollar when cents would
    drop part of it (`$0.0035`, `$0.0350`)."""
    if amount is None:
        return na
    value = Decimal(str(amount))
    if isinstance(amount, float):  # a chart tick: 0.1 + 0.2 is $0.30, not $0.3000
        value = value.quantize(MONEY_PLACES)
    places = 2 if abs(value) >= 1 or value == value.quantize(CENT) else 4
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{'-' if rounded < 0 else ''}${abs(rounded):,.{places}f}"


def percent(fraction: float | None, *, na: str = NA) -> str:
    """A rate 0..1 as a percent, with enough places to show small rates (`0.05%`) and what a
    rate near 100% leaves out (`99.77%`, not `99.8%`: availability is read by its shortfall)."""
    if fraction is None:
        return na
    value = fraction * 100
    near_whole = 99 <= abs(value) < 100
    places = (
        2 if near_whole else 1 if abs(value) >= 10 else 2 if abs(value) >= 0.01 or value == 0 else 3
    )
    return f"{value:,.{places}f}%"


def ratio_percent(value: float | None, *, na: str = NA) -> str:
    """A ratio such as ROI as a whole percent: 3.0 is `300%`."""
    return na if value is None else f"{value * 100:,.0f}%"


def multiple(value: float | None, *, na: str = NA) -> str:
    """A ratio of money to money: `4.00x`."""
    return na if value is None else f"{value:,.2f}x"


def csv_cell(value: Any) -> Any:
    """A CSV value a spreadsheet shows as it is: text starting like a formula (`=`, `+`, `-`,
    `@`, tab, CR) gets a leading `'`; numbers, negative ones included, stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def budget_where(budget: Budget) -> str:
    """Whose spend a budget counts, for mail and pages: `project support`, or `all projects`
    for an organization-wide budget (it has no project)."""
    return f"project {budget.project.name}" if budget.project else "all projects"


def budget_scope(budget: Budget) -> str:
    """What a budget counts within that: `service router in project support`."""
    where = budget_where(budget)
    if budget.scope_kind in (ScopeKind.SERVICE, ScopeKind.MODEL):
        return f"{budget.scope_kind} {budget.scope_name} in {where}"
    return where

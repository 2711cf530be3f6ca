"""Budget status (DESIGN.md "budget"): spent this UTC calendar period, run rate, forecast."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from analytics.metrics.query import MetricsQuery, rollup_totals
from analytics.metrics.window import Window
from analytics.rollups.families import ATTEMPTS
from governance.models import AlertRule, Budget, BudgetPeriod, Project, ScopeKind, Service
from governance.pricing import usd_of

RUN_RATE_DAYS = 7
DAY_SECONDS = 86_400


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar period holding `now`: [start, end)."""
    today = now.astimezone(UTC).date()
    if period == BudgetPeriod.DAY:
        start = today
        end = start + timedelta(days=1)
    elif period == BudgetPeriod.WEEK:
        start = today - timedelta(days=today.weekday())  # ISO weeks start on Monday
        end = start + timedelta(days=7)
    elif period == BudgetPeriod.MONTH:
        start = today.replace(day=1)
        end = _month_start(start.year, start.month + 1)
    else:
        first_month = (today.month - 1) // 3 * 3 + 1
        start = today.replace(month=first_month, day=1)
        end = _month_start(start.year, first_month + 3)
    return _midnight(start), _midnight(end)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class BudgetStatus:
    """A budget's current (or closed) period: spent, run rate and forecast in exact USD."""

    budget: Budget
    period_start: datetime
    period_end: datetime
    spent: Decimal
    run_rate_per_day: Decimal
    forecast: Decimal
    percent: float  # spent as a percent of the amount

    @property
    def burn_ratio(self) -> Decimal:
        """Spent / the amount: 1 when the budget is used up."""
        return self.spent / self.budget.amount_usd

    @property
    def status(self) -> str:
        """`exceeded` once spent reaches the amount, `forecast_to_exceed` when the forecast
        passes it, else `ok`."""
        if self.spent >= self.budget.amount_usd:
            return "exceeded"
        if self.forecast > self.budget.amount_usd:
            return "forecast_to_exceed"
        return "ok"

    @property
    def crossed(self) -> list[int]:
        """The thresholds (percents) the spend has reached this period."""
        return [value for value in sorted(self.budget.thresholds) if self.percent >= value]


def scope_query(owner: Budget | AlertRule, window: Window) -> MetricsQuery:
    """The metrics query for what a budget or an alert rule watches (its scope) over a window."""
    service_ids = None
    if owner.scope_kind == ScopeKind.SERVICE:
        service_ids = tuple(
            Service.objects.filter(project=owner.project, name=owner.scope_name).values_list(
                "pk", flat=True
            )
        )
    model = owner.scope_name if owner.scope_kind == ScopeKind.MODEL else None
    policy = owner.scope_name if owner.scope_kind == ScopeKind.POLICY else None
    return MetricsQuery(
        window=window,
        projects=_scope_projects(owner),
        service_ids=service_ids,
        model=model,
        policy=policy,
    )


def _scope_projects(owner: Budget | AlertRule) -> tuple[Project, ...]:
    """The projects a scope covers: all of the organization's for an organization-wide
    budget (rules have no such scope), else its own project."""
    if isinstance(owner, Budget) and owner.scope_kind == ScopeKind.ORGANIZATION:
        return tuple(Project.objects.filter(organization_id=owner.organization_id))
    return () if owner.project is None else (owner.project,)


def spend(owner: Budget | AlertRule, start: datetime, end: datetime) -> Decimal:
    """Exact USD a budget's or an alert rule's scope spent in [start, end) (to 1e-8)."""
    rows = rollup_totals(ATTEMPTS, scope_query(owner, Window.of(start, end)), sketches=())
    units = sum(row["cost_usd"] for row in rows)
    return usd_of(units)


SpendOf = Callable[[Budget, datetime, datetime], Decimal]  # (budget, start, end) -> USD


class SpendLedger:
    """Spends of many budgets from one grouped rollup read per distinct window.

    Budgets share few windows (their periods so far, the trailing run-rate days), so reading
    each window once for every project, service and model keeps the number of queries flat
    however many budgets there are. Each budget's rows are picked as `scope_query` scopes them.
    """

    def __init__(self, projects: Iterable[Project]) -> None:
        self._projects = tuple(projects)
        self._organization_projects: dict[int, set[int]] = defaultdict(set)
        for project in self._projects:
            self._organization_projects[project.organization_id].add(project.pk)
        self._reads: dict[Window, list[dict[str, Any]]] = {}
        self._service_ids: dict[tuple[int, str], set[int]] | None = None

    def __call__(self, budget: Budget, start: datetime, end: datetime) -> Decimal:
        window = Window.of(start, end)
        if window not in self._reads:
            query = MetricsQuery(window=window, projects=self._projects)
            by = ("project_id", "service_id", "model")
            self._reads[window] = rollup_totals(ATTEMPTS, query, by, sketches=())
        units = sum(row["cost_usd"] for row in self._reads[window] if self._covers(budget, row))
        return usd_of(units)

    def _covers(self, budget: Budget, row: dict[str, Any]) -> bool:
        if budget.scope_kind == ScopeKind.ORGANIZATION:
            return row["project_id"] in self._organization_projects[budget.organization_id]
        if budget.project_id is None or row["project_id"] != budget.project_id:
            return False
        if budget.scope_kind == ScopeKind.SERVICE:
            # The row's project is the budget's (above), and never None.
            return row["service_id"] in self._services(row["project_id"], budget.scope_name)
        if budget.scope_kind == ScopeKind.MODEL:
            return bool(row["model"] == budget.scope_name)
        return True

    def _services(self, project_id: int, name: str) -> set[int]:
        if self._service_ids is None:  # read once, and only when a service budget asks
            self._service_ids = defaultdict(set)
            services = Service.objects.filter(project__in=self._projects)
            for pk, owner, service in services.values_list("pk", "project_id", "name"):
                self._service_ids[(owner, service)].add(pk)
        return self._service_ids.get((project_id, name), set())


def budget_status_closed(
    budget: Budget, start: datetime, end: datetime, *, spend_of: SpendOf = spend
) -> BudgetStatus:
    """A period that has ended: what it spent is final, so it is also the forecast.

    (`budget_status` at the period's end would already answer for the next, empty period.)
    """
    spent = spend_of(budget, start, end)
    days = Decimal(str((end - start).total_seconds() / DAY_SECONDS))
    return BudgetStatus(
        budget=budget,
        period_start=start,
        period_end=end,
        spent=spent,
        run_rate_per_day=spent / days,
        forecast=spent,
        percent=float(spent / budget.amount_usd * 100),
    )


def budget_status(budget: Budget, now: datetime, *, spend_of: SpendOf = spend) -> BudgetStatus:
    """Spent, run rate and forecast of the budget's current period.

    `spend_of` lets a caller that reads many budgets answer spends from shared reads.
    """
    start, end = period_bounds(budget.period, now)
    spent = spend_of(budget, start, now)
    elapsed_days = (now - start).total_seconds() / DAY_SECONDS
    trailing_days = min(RUN_RATE_DAYS, elapsed_days)
    if trailing_days <= 0:
        run_rate = Decimal(0)
    else:
        # Early in a period the trailing days are the period so far: its spend is known.
        trailing = (
            spent
            if trailing_days == elapsed_days
            else spend_of(budget, now - timedelta(days=trailing_days), now)
        )
        run_rate = trailing / Decimal(str(trailing_days))
    days_left = Decimal(str((end - now).total_seconds() / DAY_SECONDS))
    forecast = spent + run_rate * days_left
    return BudgetStatus(
        budget=budget,
        period_start=start,
        period_end=end,
        spent=spent,
        run_rate_per_day=run_rate,
        forecast=forecast,
        percent=float(spent / budget.amount_usd * 100),
    )


def budget_burn(budget: Budget, window: Window, *, spend_of: SpendOf = spend) -> BudgetStatus:
    """The budget's period holding the window's start (a reported day), as it stood at the
    window's end: still open, or closed with the window (its spend final)."""
    start, end = period_bounds(budget.period, window.start)
    if end > window.end:
        return budget_status(budget, window.end, spend_of=spend_of)
    return budget_status_closed(budget, start, end, spend_of=spend_of)


@dataclass(frozen=True, slots=True)
class SpendPoint:
    """What a budget's scope had spent in its period by `at` (exact USD)."""

    at: datetime
    spent: Decimal


def budget_spend_series(budget: Budget, now: datetime) -> list[SpendPoint]:
    """The budget's spend so far in its current period at its start and at the end of each
    hour (of each day for periods longer than a day) up to `now`: the running total whose
    last point is `budget_status(budget, now).spent`, from one grouped read."""
    start, _ = period_bounds(budget.period, now)
    interval = "hour" if budget.period == BudgetPeriod.DAY else "day"
    step = timedelta(hours=1) if interval == "hour" else timedelta(days=1)
    rows = rollup_totals(
        ATTEMPTS, scope_query(budget, Window.of(start, now)), interval=interval, sketches=()
    )
    running = 0
    points = [SpendPoint(at=start, spent=Decimal(0))]
    for row in sorted(rows, key=lambda row: row["time"]):
        running += row["cost_usd"]
        points.append(SpendPoint(at=min(row["time"] + step, now), spent=usd_of(running)))
    if points[-1].at < now:  # no spend since the last point: the total holds until now
        points.append(SpendPoint(at=now, spent=points[-1].spent))
    return points


def budgets_for(
    *, organization_id: int, project_ids: tuple[int, ...] | None, now: datetime
) -> list[BudgetStatus]:
    """Active budgets of the organization (a key: its project's), by name, with their status
    now."""
    budgets = Budget.objects.filter(organization_id=organization_id, is_active=True)
    if project_ids is not None:
        budgets = budgets.filter(project_id__in=project_ids)
    # One grouped read per distinct window serves every budget (no query per budget).
    projects = Project.objects.filter(organization_id=organization_id)
    if project_ids is not None:
        projects = projects.filter(pk__in=project_ids)
    ledger = SpendLedger(projects)
    return [
        budget_status(budget, now, spend_of=ledger)
        for budget in budgets.select_related("project", "organization").order_by("name")
    ]

"""The overview's per-project health grid: each project's figures over the selected window,
every cell graded against the project's own alert rule for that figure (or its budget), so
an outage in one project is not averaged away by the organization's totals.

A cell is graded only when the project has an active project-scope rule (or budget) for its
figure: `good`, `warn` (past NEAR of the threshold) or `bad` (past it, as the rule judges:
strictly above), each with words as well as a colour. Below the rule's minimum of requests
in the window a figure is not judged, as the rule would not judge it. Rules scoped to a service or a model
watch part of the project, so they do not grade the project's whole figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from analytics.alerts.selectors import ProjectAlerts, project_alert_counts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import count, ms, raw
from analytics.dashboard.thresholds import rules_of_projects
from analytics.formatting import BUDGET_STATUS_LABELS, percent, usd
from analytics.metrics.breakdowns import metrics_project_health
from analytics.metrics.budgets import BudgetStatus, budgets_for
from analytics.metrics.results import ProjectHealth
from governance.models import AlertKind, AlertRule, ScopeKind

NEAR = Decimal("0.8")  # a figure past 80% of its threshold is a warning
GOOD, WARN, BAD = "good", "warn", "bad"
CUES = {GOOD: "ok", WARN: "near limit", BAD: "over limit"}
BUDGET_GRADES = {"ok": GOOD, "forecast_to_exceed": WARN, "exceeded": BAD}
PERIOD_NOW = {"day": "today", "week": "this week", "month": "this month", "quarter": "this quarter"}
# The rule kinds that grade a grid figure (availability is judged by the error-rate rule:
# requests failed after every fallback, against the failure share the rule tolerates).
GRADING_KINDS = (
    AlertKind.OVER_INTERCEPTION,
    AlertKind.LATENCY_SLO,
    AlertKind.ERROR_RATE,
    AlertKind.COST_OVERRUN,
)

# The grid's columns after the project's name: (data-metric, heading), in the cells' order.
HEALTH_COLUMNS = (
    ("requests", "Requests"),
    ("availability", "Availability"),
    ("latency_p95_ms", "P95 latency"),
    ("error_rate", "Error rate"),
    ("interception_rate", "Interception"),
    ("violation_rate", "Escaped violations"),
    ("cost_usd", "Spend"),
    ("budget_percent", "Budget this period"),
    ("firing_alerts", "Alerts"),
)


@dataclass(frozen=True)
class Cell:
    """One figure of a project's row: raw value, shown value, grade and why."""

    metric: str
    value: Any
    display: str
    grade: str = ""  # "good", "warn", "bad", or "" (no rule or budget for this figure)
    cue: str = ""  # the grade in words, so colour is never the only sign
    basis: str = ""  # what it is graded against, for the cell's title
    url: str = ""  # the project's page that explains the figure

    @property
    def data_value(self) -> str:
        return raw(self.value)


@dataclass(frozen=True)
class HealthRow:
    """A project's row: its name, links to its pages and its graded cells."""

    project: str
    url: str  # the project's reliability page over the same window
    cells: tuple[Cell, ...]  # each linking to the page that explains its figure

    @property
    def flagged(self) -> bool:
        """Whether any figure is over its rule's threshold (or its budget)."""
        return any(cell.grade == BAD for cell in self.cells)


def grade_above(
    value: Decimal | float | None, threshold: Decimal, *, judged: bool = True
) -> tuple[str, str]:
    """The grade and its words of a figure that is worse the higher it is."""
    if value is None:
        return "", "no data"
    if not judged:
        return "", "too few to judge"
    amount = Decimal(str(value))
    if amount > threshold:
        return BAD, CUES[BAD]
    if amount > threshold * NEAR:
        return WARN, CUES[WARN]
    return GOOD, CUES[GOOD]


def project_rules(rules: Iterable[AlertRule]) -> dict[tuple[int, str], AlertRule]:
    """The strictest active project-scope rule of each grading kind, per project."""
    chosen: dict[tuple[int, str], AlertRule] = {}
    for rule in rules:
        if not rule.is_active or rule.scope_kind != ScopeKind.PROJECT:
            continue
        if rule.kind not in GRADING_KINDS:
            continue
        key = (rule.project_id, rule.kind)
        if key not in chosen or rule.effective_threshold < chosen[key].effective_threshold:
            chosen[key] = rule
    return chosen


def _rule_cell(
    metric: str,
    value: float | None,
    display: str,
    rule: AlertRule | None,
    *,
    population: int,
    shown_threshold: str,
) -> Cell:
    """A cell graded by `rule` (strictly above its threshold is bad), ungraded without one."""
    if rule is None:
        return Cell(metric, value, display, basis="no rule watches this figure")
    grade, cue = grade_above(
        value, rule.effective_threshold, judged=population >= rule.min_requests
    )
    basis = f"rule “{rule.name}”: above {shown_threshold} is bad"
    return Cell(metric, value, display, grade, cue, basis)


def _availability_cell(health: ProjectHealth, rule: AlertRule | None) -> Cell:
    """Availability, graded by the error-rate rule: the share of requests that failed after
    every fallback against the error rate the rule tolerates."""
    value = health.availability
    display = percent(value)
    if rule is None:
        return Cell("availability", value, display, basis="no rule watches this figure")
    threshold = rule.effective_threshold
    failed = None if value is None else 1 - value
    grade, cue = grade_above(failed, threshold, judged=health.attempts >= rule.min_requests)
    floor = percent(float(1 - threshold))
    basis = f"rule “{rule.name}”: below {floor} served is bad"
    return Cell("availability", value, display, grade, cue, basis)


def _spend_cell(health: ProjectHealth, rule: AlertRule | None, minutes: float) -> Cell:
    """The window's spend, graded by a cost-overrun rule's ceiling scaled from the rule's
    window to the selected one (the rule's ceiling per its window, at the same pace)."""
    value = health.cost_usd
    if rule is None:
        return Cell("cost_usd", value, usd(value), basis="no rule watches this figure")
    ceiling = rule.effective_threshold * Decimal(str(minutes)) / rule.window_minutes
    grade, cue = grade_above(value, ceiling)
    basis = (
        f"rule “{rule.name}”: {usd(rule.effective_threshold)} per {rule.window_minutes} min, "
        f"{usd(ceiling)} over this window"
    )
    return Cell("cost_usd", value, usd(value), grade, cue, basis)


def _budget_cell(status: BudgetStatus | None) -> Cell:
    """The project budget's spend this period against its amount, graded by its status."""
    if status is None:
        return Cell("budget_percent", None, "no budget", basis="the project has no budget")
    budget = status.budget
    display = f"{usd(status.spent)} of {usd(budget.amount_usd)} {PERIOD_NOW[budget.period]}"
    return Cell(
        "budget_percent",
        status.percent,
        display,
        BUDGET_GRADES[status.status],
        BUDGET_STATUS_LABELS[status.status],
        f"budget “{budget.name}” ({budget.get_period_display()}, UTC, to now)",
    )


def _violations_cell(health: ProjectHealth) -> Cell:
    shown = f"{percent(health.violation_rate)} ({count(health.escaped_violations)})"
    return Cell("violation_rate", health.violation_rate, shown, basis="no rule watches it")


def _alerts_cell(alerts: ProjectAlerts | None) -> Cell:
    """Alerts firing now (bad: a rule has judged its own window over its threshold), else
    those that fired in the window and resolved (a warning: an incident to look at)."""
    firing = alerts.firing if alerts else 0
    fired = alerts.fired_in_window if alerts else 0
    if firing:
        cue = f"{fired} in this window" if fired > firing else ""
        return Cell("firing_alerts", firing, count(firing, "firing"), BAD, cue, "firing now")
    if fired:
        shown = f"{count(fired)} fired"
        return Cell("firing_alerts", 0, shown, WARN, "resolved", "fired in this window")
    return Cell("firing_alerts", 0, "none")


def _project_budgets(statuses: Iterable[BudgetStatus]) -> dict[int, BudgetStatus]:
    """Each project's project-scope budget; the most used one when it has several."""
    chosen: dict[int, BudgetStatus] = {}
    for status in statuses:
        budget = status.budget
        if budget.scope_kind != ScopeKind.PROJECT or budget.project_id is None:
            continue
        if budget.project_id not in chosen or status.percent > chosen[budget.project_id].percent:
            chosen[budget.project_id] = status
    return chosen


# The page that explains each figure, so a flagged cell is one click from its cause.
CELL_PAGES = {
    "availability": "dashboard:reliability",
    "latency_p95_ms": "dashboard:reliability",
    "error_rate": "dashboard:reliability",
    "interception_rate": "dashboard:enforcement",
    "violation_rate": "dashboard:enforcement",
    "cost_usd": "dashboard:cost",
    "budget_percent": "dashboard:cost",
    "firing_alerts": "dashboard:alerts",
}


def _linked(selection: Selection, project: str, cells: tuple[Cell, ...]) -> HealthRow:
    """The project's row, its name and each cell linking to the project's page over the same
    range (other filters are left out: a service of one project may not exist in another)."""
    kept = {k: v for k, v in selection.params.items() if k in ("range", "from", "to")}
    query = urlencode({**kept, "project": project})
    linked = tuple(
        replace(cell, url=f"{reverse(CELL_PAGES[cell.metric])}?{query}")
        if cell.metric in CELL_PAGES
        else cell
        for cell in cells
    )
    return HealthRow(project, f"{reverse('dashboard:reliability')}?{query}", linked)


def health_rows(selection: Selection, *, organization_id: int, now: datetime) -> list[HealthRow]:
    """A row per project of the selection, by name, in a fixed number of reads whatever the
    number of projects (two of figures, one of rules, one of alerts, the budgets')."""
    query = selection.query
    figures = metrics_project_health(query)
    pks = {project.name: project.pk for project in query.projects}
    chosen = project_rules(rules_of_projects(query))
    window = selection.window
    alerts = project_alert_counts(
        organization_id=organization_id,
        project_ids=query.project_ids,
        start=window.start,
        end=window.end,
    )
    budgets = _project_budgets(
        budgets_for(organization_id=organization_id, project_ids=tuple(query.project_ids), now=now)
    )
    minutes = (window.end - window.start).total_seconds() / 60
    answer = []
    for health in figures:
        pk = pks[health.project]
        rules: dict[str, AlertRule | None] = {
            kind: chosen.get((pk, kind)) for kind in GRADING_KINDS
        }
        cells = _cells(health, rules, minutes, budgets.get(pk), alerts.get(pk))
        answer.append(_linked(selection, health.project, cells))
    return answer


def _cells(
    health: ProjectHealth,
    rules: dict[str, AlertRule | None],
    minutes: float,
    budget: BudgetStatus | None,
    alerts: ProjectAlerts | None,
) -> tuple[Cell, ...]:
    """A project's cells in the grid's column order."""
    p95 = health.latency_ms.p95
    latency_rule = rules[AlertKind.LATENCY_SLO]
    error_rule = rules[AlertKind.ERROR_RATE]
    interception_rule = rules[AlertKind.OVER_INTERCEPTION]
    return (
        Cell("requests", health.requests, count(health.requests)),
        _availability_cell(health, error_rule),
        _rule_cell(
            "latency_p95_ms",
            p95,
            ms(p95),
            latency_rule,
            population=health.attempts,
            shown_threshold=ms(_as_float(latency_rule)),
        ),
        _rule_cell(
            "error_rate",
            health.error_rate,
            percent(health.error_rate),
            error_rule,
            population=health.attempts,
            shown_threshold=percent(_as_float(error_rule)),
        ),
        _rule_cell(
            "interception_rate",
            health.interception_rate,
            percent(health.interception_rate),
            interception_rule,
            population=health.requests,
            shown_threshold=percent(_as_float(interception_rule)),
        ),
        _violations_cell(health),
        _spend_cell(health, rules[AlertKind.COST_OVERRUN], minutes),
        _budget_cell(budget),
        _alerts_cell(alerts),
    )


def _as_float(rule: AlertRule | None) -> float | None:
    """A rule's threshold as the float its figure is shown as (None without a rule)."""
    return None if rule is None else float(rule.effective_threshold)

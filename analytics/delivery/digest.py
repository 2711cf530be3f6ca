"""The daily finance digest (DESIGN.md "Alerts"): yesterday's spend, budgets, savings and ROI.

Once a day each organization's finance members get one email (through the outbox) with the
figures of the UTC day before: spend in total, per project and per model, budget burn,
routing and error-cost savings, enforcement cost, ROI and the savings multiple. Every figure
comes from the selectors the metrics API and the dashboard use, so the linked page shows the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db import connection, transaction
from django.utils import timezone

from analytics.delivery.outbox import dashboard_url, notify, recipients_for
from analytics.formatting import (
    BUDGET_STATUS_LABELS,
    budget_scope,
    multiple,
    ratio_percent,
    usd,
)
from analytics.metrics.breakdowns import metrics_spend
from analytics.metrics.budgets import BudgetStatus, SpendLedger, budget_burn
from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import SpendRow, Summary
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from governance.models import Budget, Organization, Project, Role

DIGEST_LOCK_KEY = 0x746F6C6C_64696765  # one digest run at a time, whatever the workers
DIGEST_ROLES = (Role.FINANCE,)
NA = "n/a"  # a ratio without enforcement cost, a cost per request without requests


# --- Figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinanceDigest:
    """One organization's figures for one UTC day, as the selectors answer them."""

    organization: Organization
    day: date
    window: Window
    summary: Summary
    projects: list[SpendRow]  # per project
    models: list[SpendRow]  # per model
    previous_costs: dict[str, Decimal]  # per project, the day before
    budgets: list[BudgetStatus]  # each as it stood at the day's end

    @property
    def previous_cost(self) -> Decimal:
        """The organization's spend the day before."""
        return sum(self.previous_costs.values(), Decimal(0))


def day_window(day: date) -> Window:
    """The UTC day as a window, midnight to midnight."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def digest_build(*, organization: Organization, day: date) -> FinanceDigest:
    """The organization's figures for one UTC day, all projects together and apart."""
    window = day_window(day)
    projects = tuple(Project.objects.filter(organization=organization).order_by("name"))
    query = MetricsQuery(window=window, projects=projects)
    previous = MetricsQuery(window=window.previous(), projects=projects)
    ledger = SpendLedger(projects)
    budgets = (
        Budget.objects.filter(organization=organization, is_active=True)
        .select_related("project")
        .order_by("name", "pk")
    )
    return FinanceDigest(
        organization=organization,
        day=day,
        window=window,
        summary=metrics_summary(query),
        projects=metrics_spend(query, by="project"),
        models=metrics_spend(query, by="model"),
        previous_costs={row.name: row.cost_usd for row in metrics_spend(previous, by="project")},
        # One grouped read per distinct window serves every budget (no query per budget).
        budgets=[budget_burn(budget, window, spend_of=ledger) for budget in budgets],
    )


# --- Presentation -------------------------------------------------------------------------


def change(current: Decimal, previous: Decimal) -> str:
    """The move from the day before, in money and (when there was spend) in percent."""
    delta = current - previous
    if not delta:
        return "no change"
    sign = "+" if delta > 0 else "-"
    text = f"{sign}{usd(abs(delta))}"
    return f"{text} ({sign}{abs(delta) / previous * 100:,.1f}%)" if previous else text


def cost_page(window: Window, **filters: str) -> str:
    """The dashboard's cost page for the window (and a project or model)."""
    params = {
        "from": window.start.isoformat().replace("+00:00", "Z"),
        "to": window.end.isoformat().replace("+00:00", "Z"),
        **filters,
    }
    return dashboard_url(f"/dashboard/cost/?{urlencode(params, safe=':')}")


def period_label(burn: BudgetStatus) -> str:
    """`day 2026-11-26`, `month 2026-11-01 to 2026-11-30`: the period's days, inclusive."""
    last_day = (burn.period_end - timedelta(days=1)).date()
    first_day = burn.period_start.date()
    days = first_day.isoformat() if first_day == last_day else f"{first_day} to {last_day}"
    return f"{burn.budget.period} {days}"


def _spend_line(row: SpendRow, url: str) -> dict[str, Any]:
    return {
        "name": row.name,
        "spend": usd(row.cost_usd),
        "attempts": f"{row.attempts:,}",
        "requests": f"{row.requests:,}",
        "cost_per_1k": usd(row.cost_per_1k_requests_usd, na=NA),
        "unpriced": f"{row.unpriced_attempts:,}",
        "url": url,
    }


def digest_context(digest: FinanceDigest) -> dict[str, Any]:
    """What the digest templates show: every figure already formatted, with its link."""
    summary, window = digest.summary, digest.window
    cost = summary.cost_usd
    projects = []
    for row in digest.projects:
        line = _spend_line(row, cost_page(window, project=row.name))
        before = digest.previous_costs.get(row.name, Decimal(0))
        line["day_before"] = usd(before)
        line["change"] = change(row.cost_usd, before)
        projects.append(line)
    budgets = [
        {
            "name": burn.budget.name,
            "scope": budget_scope(burn.budget),
            "period": period_label(burn),
            "spent": usd(burn.spent),
            "amount": usd(burn.budget.amount_usd),
            "percent": f"{burn.percent:,.1f}%",
            "forecast": usd(burn.forecast),
            "status": BUDGET_STATUS_LABELS[burn.status],
            "alarming": burn.status != "ok",
            "url": cost_page(window, project=burn.budget.project.name)
            if burn.budget.project
            else cost_page(window),
        }
        for burn in digest.budgets
    ]
    return {
        "organization": digest.organization,
        "day": digest.day,
        "spend": usd(cost),
        "day_before": usd(digest.previous_cost),
        "change": change(cost, digest.previous_cost),
        "requests": f"{summary.requests:,}",
        "attempts": f"{summary.attempts:,}",
        "cost_per_1k": usd(summary.cost_per_1k_requests_usd, na=NA),
        "unpriced_attempts": f"{summary.unpriced_attempts:,}",
        "baseline_cost": usd(summary.baseline_cost_usd),
        "routing_savings": usd(summary.routing_savings_usd),
        "error_cost_savings": usd(summary.error_cost_savings_usd),
        "enforcement_cost": usd(summary.enforcement_cost_usd),
        "roi": ratio_percent(summary.roi, na=NA),
        "savings_multiple": multiple(summary.savings_multiple, na=NA),
        "projects": projects,
        "models": [_spend_line(row, cost_page(window, model=row.name)) for row in digest.models],
        "budgets": budgets,
        "url": cost_page(window),
    }


# --- Sending ------------------------------------------------------------------------------


@dataclass
class DigestRun:
    """What one run of the digest did, for the task's result and the logs."""

    day: date
    organizations: int = 0  # digests built
    queued: int = 0  # emails queued
    skipped_no_recipients: int = 0
    skipped_locked: bool = False


def finance_digest_send(*, now: datetime | None = None) -> DigestRun:
    """Queue the digest of the UTC day before `now` to every organization's finance members.

    The dedup key names the organization and the day, so a second run that day queues
    nothing; an organization without finance members is skipped.
    """
    now = now or timezone.now()
    run = DigestRun(day=now.astimezone(UTC).date() - timedelta(days=1))
    with transaction.atomic():
        if not _digest_lock():
            run.skipped_locked = True
            return run
        for organization in Organization.objects.order_by("pk"):
            _digest_queue(organization, run, now)
    return run


def organization_digest_send(
    *, organization: Organization, day: date | None = None, now: datetime | None = None
) -> DigestRun:
    """Queue one organization's digest of `day` (by default the day before `now`, as the
    scheduled run) now. The same dedup key as the scheduled digest: once per day and
    recipient, whichever of the two runs first."""
    now = now or timezone.now()
    run = DigestRun(day=day or now.astimezone(UTC).date() - timedelta(days=1))
    with transaction.atomic():
        if not _digest_lock():
            run.skipped_locked = True
            return run
        _digest_queue(organization, run, now)
    return run


def _digest_lock() -> bool:
    """Take the digest's transaction lock, or say another run holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DIGEST_LOCK_KEY])
        row = cursor.fetchone()
    return bool(row and row[0])


def _digest_queue(organization: Organization, run: DigestRun, now: datetime) -> None:
    """Build and queue the organization's digest of `run.day`, counted in the run."""
    recipients = recipients_for(organization, [], DIGEST_ROLES)
    if not recipients:
        run.skipped_no_recipients += 1
        return
    digest = digest_build(organization=organization, day=run.day)
    run.organizations += 1
    run.queued += notify(
        organization=organization,
        recipients=recipients,
        dedup_key=f"digest:{organization.pk}:{run.day.isoformat()}",
        template="digest",
        context=digest_context(digest),
        now=now,
    )

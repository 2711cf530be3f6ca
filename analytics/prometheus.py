"""The live figures exposed to Prometheus at /metrics (DESIGN.md "Alerts", last sentence).

Every organization is covered (it is an operator endpoint), labelled with low-cardinality
names only: organization, project, model, layer, budget, period, kind, severity. Models come
from the project's matrix, which admins control; any other name an event carries is counted
under "(unlisted)", so a client cannot grow the series. Traffic figures cover the trailing
`WINDOW` of whole minutes, read from the rollups like the metrics API; budgets their current
period; alerts their current state; failed emails the outbox as it stands. Reads are grouped
across all projects, so the number of queries does not grow with projects, models or budgets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, Q

from analytics.budgets import SpendLedger, budget_status
from analytics.exposition import MetricFamily
from analytics.families import ATTEMPTS, LAYERS, REQUESTS
from analytics.models import Alert, AlertState, Notification, NotificationState
from analytics.selectors import MetricsQuery, Totals, rate, rollup_totals
from analytics.sketch import sketch_count, sketch_counts_at_most, sketch_merge
from analytics.window import Window
from governance.models import Budget, MatrixModel, Project
from governance.pricing import usd_of

WINDOW = timedelta(minutes=5)  # long enough to hold a few requests, short enough to be "now"
LATENCY_BOUNDS_MS = (25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000)
UNLISTED_MODEL = "(unlisted)"

ProjectLabels = dict[int, dict[str, str]]


def metrics_collect(*, now: datetime) -> list[MetricFamily]:
    """Every metric family /metrics exposes, with figures as of `now`."""
    projects = tuple(
        Project.objects.select_related("organization").order_by("organization__name", "name")
    )
    query = MetricsQuery(window=Window.of(now - WINDOW, now), projects=projects)
    labels = {
        project.pk: {"organization": project.organization.name, "project": project.name}
        for project in projects
    }
    window = MetricFamily(
        "tollgate_window_seconds",
        "gauge",
        "Length of the trailing window (whole minutes up to the current one) that the traffic "
        "figures cover.",
    )
    window.set({}, int((query.window.end - query.window.start).total_seconds()))
    return [
        window,
        *attempt_families(query, labels),
        *request_families(query, labels),
        *layer_families(query, labels),
        *budget_families(projects, now=now),
        alert_family(),
        notification_family(),
    ]


def _ordered(labels: ProjectLabels, keys: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Group keys (project id, name) in organization, project, name order: stable output."""
    return sorted(
        keys, key=lambda key: (labels[key[0]]["organization"], labels[key[0]]["project"], key[1])
    )


def attempt_families(query: MetricsQuery, labels: ProjectLabels) -> list[MetricFamily]:
    """Model calls per project and model: counts, error rate, cost, latency histogram."""
    rows = rollup_totals(ATTEMPTS, query, ("project_id", "model"), sketches=("latency_sketch",))
    listed = set(
        MatrixModel.objects.filter(project__in=query.project_ids).values_list("project_id", "name")
    )
    groups: dict[tuple[int, str], list[Totals]] = defaultdict(list)
    for row in rows:
        key = (row["project_id"], row["model"])
        groups[key if key in listed else (row["project_id"], UNLISTED_MODEL)].append(row)

    attempts = MetricFamily(
        "tollgate_attempts", "gauge", "Model calls (routing events) in the trailing window."
    )
    errors = MetricFamily(
        "tollgate_attempt_errors",
        "gauge",
        "Model calls in the trailing window whose status is not ok.",
    )
    error_rate = MetricFamily(
        "tollgate_error_rate",
        "gauge",
        "Share (0..1) of the model calls in the trailing window whose status is not ok.",
    )
    unpriced = MetricFamily(
        "tollgate_unpriced_attempts",
        "gauge",
        "Model calls in the trailing window with no price (left out of every cost figure).",
    )
    cost = MetricFamily(
        "tollgate_cost_usd",
        "gauge",
        "Cost in USD of the model calls in the trailing window (reported, else priced).",
    )
    latency = MetricFamily(
        "tollgate_latency_ms",
        "histogram",
        "Model call latency in ms over the trailing window (buckets from the rollup sketches, "
        "within 1%). Not a counter: use histogram_quantile() on it directly, without rate().",
    )
    for project_id, model in _ordered(labels, groups):
        members = groups[(project_id, model)]
        series = {**labels[project_id], "model": model}
        calls = int(sum(row["attempts"] for row in members))
        failed = int(sum(row["errors"] for row in members))
        attempts.set(series, calls)
        errors.set(series, failed)
        error_rate.set(series, rate(failed, calls) or 0.0)
        unpriced.set(series, int(sum(row["unpriced_attempts"] for row in members)))
        cost.set(series, usd_of(sum(row["cost_usd"] for row in members)))
        sketch = sketch_merge(row["latency_sketch"] for row in members)
        latency.observe(
            series,
            bounds=LATENCY_BOUNDS_MS,
            counts_at_most=sketch_counts_at_most(sketch, LATENCY_BOUNDS_MS),
            count=sketch_count(sketch),
            total=round(sum(row["latency_sum_ms"] for row in members), 3),
        )
    return [attempts, errors, error_rate, unpriced, cost, latency]


def request_families(query: MetricsQuery, labels: ProjectLabels) -> list[MetricFamily]:
    """Requests per project and the per-request rates (DESIGN.md "Metric definitions")."""
    rows = {
        row["project_id"]: row
        for row in rollup_totals(REQUESTS, query, ("project_id",), sketches=())
    }
    requests = MetricFamily(
        "tollgate_requests",
        "gauge",
        "Requests (distinct request ids) first seen in the trailing window.",
    )
    rates = {
        "availability": MetricFamily(
            "tollgate_availability",
            "gauge",
            "Share of the window's requests with a model call that had one ok call.",
        ),
        "interception": MetricFamily(
            "tollgate_interception_rate",
            "gauge",
            "Share of the window's requests blocked or modified at a pre-delivery layer.",
        ),
        "violation": MetricFamily(
            "tollgate_violation_rate",
            "gauge",
            "Share of the window's requests with an escaped violation (found at review, not a "
            "false positive).",
        ),
        "detected": MetricFamily(
            "tollgate_detected_violation_rate",
            "gauge",
            "Share of the window's requests with a violation found at any layer.",
        ),
    }
    for project_id, series in labels.items():  # in organization, project order
        row = rows.get(project_id)
        requests.set(series, int(row["requests"]) if row else 0)  # a quiet project reads 0
        if row is None:
            continue  # rates of no requests are undefined: no sample rather than a made-up 0
        if row["with_attempt"]:
            rates["availability"].set(series, rate(row["served"], row["with_attempt"]) or 0.0)
        rates["interception"].set(series, rate(row["intercepted"], row["requests"]) or 0.0)
        rates["violation"].set(series, rate(row["escaped"], row["requests"]) or 0.0)
        rates["detected"].set(series, rate(row["violation_detected"], row["requests"]) or 0.0)
    return [requests, *rates.values()]


def layer_families(query: MetricsQuery, labels: ProjectLabels) -> list[MetricFamily]:
    """Policy checks per project and enforcement layer, and the layer's interception rate."""
    rows = {
        (row["project_id"], row["layer"]): row
        for row in rollup_totals(LAYERS, query, ("project_id", "layer"), sketches=())
    }
    checks = MetricFamily(
        "tollgate_layer_checks", "gauge", "Policy checks in the trailing window, per layer."
    )
    interception = MetricFamily(
        "tollgate_layer_interception_rate",
        "gauge",
        "Share of a layer's checks in the trailing window that blocked or modified.",
    )
    for project_id, layer in _ordered(labels, rows):
        row = rows[(project_id, layer)]
        series = {**labels[project_id], "layer": layer}
        checks.set(series, int(row["checks"]))
        interception.set(series, rate(row["blocks"] + row["modifies"], row["checks"]) or 0.0)
    return [checks, interception]


def budget_families(projects: Iterable[Project], *, now: datetime) -> list[MetricFamily]:
    """Each active budget's current period: amount, spent, burn, run rate and forecast."""
    budgets = Budget.objects.filter(is_active=True).select_related("organization", "project")
    ledger = SpendLedger(projects)
    amount = MetricFamily(
        "tollgate_budget_amount_usd", "gauge", "A budget's amount per period, USD."
    )
    spent = MetricFamily(
        "tollgate_budget_spent_usd", "gauge", "Spent in the budget's current period, USD."
    )
    burn = MetricFamily(
        "tollgate_budget_burn_ratio",
        "gauge",
        "Spent in the current period / the budget's amount (1 = the budget is used up).",
    )
    run_rate = MetricFamily(
        "tollgate_budget_run_rate_usd_per_day",
        "gauge",
        "Spend per day over the trailing min(7, elapsed) days of the period, USD.",
    )
    forecast = MetricFamily(
        "tollgate_budget_forecast_usd",
        "gauge",
        "Spent plus run rate times the days left in the period, USD.",
    )
    ordered = sorted(
        budgets,
        key=lambda b: (b.organization.name, b.project.name if b.project else "", b.name),
    )
    for budget in ordered:
        status = budget_status(budget, now, spend_of=ledger)
        series = {
            "organization": budget.organization.name,
            "project": budget.project.name if budget.project else "",  # "" = organization-wide
            "budget": budget.name,
            "period": budget.period,
        }
        amount.set(series, budget.amount_usd)
        spent.set(series, status.spent)
        burn.set(series, round(float(status.spent / budget.amount_usd), 6))
        run_rate.set(series, round(status.run_rate_per_day, 8))
        forecast.set(series, round(status.forecast, 8))
    return [amount, spent, burn, run_rate, forecast]


def alert_family() -> MetricFamily:
    """Firing alerts per organization, project, kind and severity.

    Every group that has ever held an alert is listed, so a group whose alerts all resolved
    reads 0 instead of vanishing (an absent series cannot end a Prometheus alert cleanly).
    """
    rows = (
        Alert.objects.values("organization__name", "project__name", "kind", "severity")
        .annotate(firing=Count("pk", filter=Q(state=AlertState.FIRING)))
        .order_by("organization__name", "project__name", "kind", "severity")
    )
    firing = MetricFamily(
        "tollgate_alerts_firing", "gauge", "Alerts firing now, by kind and severity."
    )
    for row in rows:
        series = {
            "organization": row["organization__name"],
            "project": row["project__name"] or "",
            "kind": row["kind"],
            "severity": row["severity"],
        }
        firing.set(series, row["firing"])
    return firing


def notification_family() -> MetricFamily:
    """Emails that ran out of send attempts (outbox rows in the terminal `failed` state) per
    organization: mail nobody received until an admin sends it again. Every organization with
    an outbox row is listed, so a cleared one reads 0."""
    rows = (
        Notification.objects.values("organization__name")
        .annotate(failed=Count("pk", filter=Q(state=NotificationState.FAILED)))
        .order_by("organization__name")
    )
    failed = MetricFamily(
        "tollgate_notifications_failed",
        "gauge",
        "Emails that ran out of send attempts (outbox rows marked failed) and wait for an "
        "admin to send them again.",
    )
    for row in rows:
        failed.set({"organization": row["organization__name"]}, row["failed"])
    return failed

"""The live figures exposed to Prometheus at /metrics (DESIGN.md "Alerts", last sentence).

Every organization is covered (it is an operator endpoint), labelled with low-cardinality
names only: organization, project, model, layer, budget, period, kind, severity. Models come
from the project's matrix, which admins control; any other name an event carries is counted
under "(unlisted)", so a client cannot grow the series. Traffic figures cover the trailing
`WINDOW` of whole minutes, read from the rollups like the metrics API; budgets their current
period; alerts their current state; failed emails the outbox as it stands. Reads are grouped
across all projects, so the number of queries does not grow with projects, models or budgets.

`prometheus_client` writes the exposition (text 0.0.4, or OpenMetrics when the scraper asks):
`FiguresCollector` yields its metric families from today's figures on a registry of its own,
without the library's process metrics. To add a figure, write a function that returns its
families and list it in `metrics_collect`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from analytics.metrics.budgets import SpendLedger, budget_status
from analytics.metrics.query import MetricsQuery, Totals, rate, rollup_totals
from analytics.metrics.window import Window
from analytics.models import Alert, AlertState, Notification, NotificationState
from analytics.rollups.families import ATTEMPTS, LAYERS, REQUESTS
from analytics.rollups.sketch import sketch_count, sketch_counts_at_most, sketch_merge
from governance.models import Budget, MatrixModel, Project
from governance.pricing import usd_of

WINDOW = timedelta(minutes=5)  # long enough to hold a few requests, short enough to be "now"
LATENCY_BOUNDS_MS = (25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000)
UNLISTED_MODEL = "(unlisted)"
OPENMETRICS = "application/openmetrics-text"
MODEL_LABELS = ("organization", "project", "model")  # the latency histogram's, in this order

ProjectLabels = dict[int, dict[str, str]]
Number = int | float | Decimal  # money stays Decimal up to the exposition, which writes floats


class FiguresCollector:
    """A prometheus_client collector of every family /metrics exposes, as of `now`."""

    def __init__(self, *, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        """The metric families, read when the registry is scraped."""
        yield from metrics_collect(now=self.now)


def metrics_exposition(*, now: datetime, accept: str) -> tuple[bytes, str]:
    """The exposition body and its content type: OpenMetrics 1.0 when `accept` (the scraper's
    Accept header) asks for `application/openmetrics-text`, else the text format 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)  # ours alone: no process metrics
    registry.register(FiguresCollector(now=now))
    # choose_encoder sees one of two fixed headers: given a client's, it fails on a version
    # that is not numeric (a 500) and echoes versions and name escapings back.
    encode, content_type = choose_encoder(OPENMETRICS if wants_openmetrics(accept) else "")
    return encode(registry), content_type


def wants_openmetrics(accept: str) -> bool:
    """Whether an Accept header takes OpenMetrics 1.x (any version 1, or none), not at q=0."""
    for media_range in accept.split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        if media_type.lower() != OPENMETRICS:
            continue
        values = {
            name.strip().lower(): value.strip()
            for name, _, value in (parameter.partition("=") for parameter in parameters)
        }
        if _is_zero(values.get("q", "1")):
            continue
        if values.get("version", "") in ("", "1") or values["version"].startswith("1."):
            return True
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False


def metrics_collect(*, now: datetime) -> list[Metric]:
    """Every metric family /metrics exposes, with figures as of `now`."""
    projects = tuple(
        Project.objects.select_related("organization").order_by("organization__name", "name")
    )
    query = MetricsQuery(window=Window.of(now - WINDOW, now), projects=projects)
    labels = {
        project.pk: {"organization": project.organization.name, "project": project.name}
        for project in projects
    }
    window = GaugeMetricFamily(
        "tollgate_window_seconds",
        "Length of the trailing window (whole minutes up to the current one) that the traffic "
        "figures cover.",
    )
    _set(window, {}, int((query.window.end - query.window.start).total_seconds()))
    return [
        window,
        *attempt_families(query, labels),
        *request_families(query, labels),
        *layer_families(query, labels),
        *budget_families(projects, now=now),
        alert_family(),
        notification_family(),
    ]


def _set(family: GaugeMetricFamily, series: Mapping[str, str], value: Number) -> None:
    """A gauge's value for one label set (label order does not matter to the format)."""
    family.add_sample(family.name, dict(series), float(value))


def _observe(
    family: HistogramMetricFamily,
    series: Mapping[str, str],
    *,
    counts_at_most: Sequence[int],
    count: int,
    total: float,
) -> None:
    """A histogram's series for one label set: cumulative buckets, +Inf (= count), sum."""
    buckets = [
        (floatToGoString(bound), float(at_most))
        for bound, at_most in zip(LATENCY_BOUNDS_MS, counts_at_most, strict=True)
    ]
    buckets.append(("+Inf", float(count)))
    family.add_metric([series[name] for name in MODEL_LABELS], buckets, total)


def _ordered(labels: ProjectLabels, keys: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Group keys (project id, name) in organization, project, name order: stable output."""
    return sorted(
        keys, key=lambda key: (labels[key[0]]["organization"], labels[key[0]]["project"], key[1])
    )


def attempt_families(query: MetricsQuery, labels: ProjectLabels) -> list[Metric]:
    """Model calls per project and model: counts, error rate, cost, latency histogram."""
    rows = rollup_totals(ATTEMPTS, query, ("project_id", "model"), sketches=("latency_sketch",))
    listed = set(
        MatrixModel.objects.filter(project__in=query.project_ids).values_list("project_id", "name")
    )
    groups: dict[tuple[int, str], list[Totals]] = defaultdict(list)
    for row in rows:
        key = (row["project_id"], row["model"])
        groups[key if key in listed else (row["project_id"], UNLISTED_MODEL)].append(row)

    attempts = GaugeMetricFamily(
        "tollgate_attempts", "Model calls (routing events) in the trailing window."
    )
    errors = GaugeMetricFamily(
        "tollgate_attempt_errors",
        "Model calls in the trailing window whose status is not ok.",
    )
    error_rate = GaugeMetricFamily(
        "tollgate_error_rate",
        "Share (0..1) of the model calls in the trailing window whose status is not ok.",
    )
    unpriced = GaugeMetricFamily(
        "tollgate_unpriced_attempts",
        "Model calls in the trailing window with no price (left out of every cost figure).",
    )
    cost = GaugeMetricFamily(
        "tollgate_cost_usd",
        "Cost in USD of the model calls in the trailing window (reported, else priced).",
    )
    latency = HistogramMetricFamily(
        "tollgate_latency_ms",
        "Model call latency in ms over the trailing window (buckets from the rollup sketches, "
        "within 1%). Not a counter: use histogram_quantile() on it directly, without rate().",
        labels=MODEL_LABELS,
    )
    for project_id, model in _ordered(labels, groups):
        members = groups[(project_id, model)]
        series = {**labels[project_id], "model": model}
        calls = int(sum(row["attempts"] for row in members))
        failed = int(sum(row["errors"] for row in members))
        _set(attempts, series, calls)
        _set(errors, series, failed)
        _set(error_rate, series, rate(failed, calls) or 0.0)
        _set(unpriced, series, int(sum(row["unpriced_attempts"] for row in members)))
        _set(cost, series, usd_of(sum(row["cost_usd"] for row in members)))
        sketch = sketch_merge(row["latency_sketch"] for row in members)
        _observe(
            latency,
            series,
            counts_at_most=sketch_counts_at_most(sketch, LATENCY_BOUNDS_MS),
            count=sketch_count(sketch),
            total=round(sum(row["latency_sum_ms"] for row in members), 3),
        )
    return [attempts, errors, error_rate, unpriced, cost, latency]


def request_families(query: MetricsQuery, labels: ProjectLabels) -> list[Metric]:
    """Requests per project and the per-request rates (DESIGN.md "Metric definitions")."""
    rows = {
        row["project_id"]: row
        for row in rollup_totals(REQUESTS, query, ("project_id",), sketches=())
    }
    requests = GaugeMetricFamily(
        "tollgate_requests",
        "Requests (distinct request ids) first seen in the trailing window.",
    )
    rates = {
        "availability": GaugeMetricFamily(
            "tollgate_availability",
            "Share of the window's requests with a model call that had one ok call.",
        ),
        "interception": GaugeMetricFamily(
            "tollgate_interception_rate",
            "Share of the window's requests blocked or modified at a pre-delivery layer.",
        ),
        "violation": GaugeMetricFamily(
            "tollgate_violation_rate",
            "Share of the window's requests with an escaped violation (found at review, not a "
            "false positive).",
        ),
        "detected": GaugeMetricFamily(
            "tollgate_detected_violation_rate",
            "Share of the window's requests with a violation found at any layer.",
        ),
    }
    for project_id, series in labels.items():  # in organization, project order
        row = rows.get(project_id)
        _set(requests, series, int(row["requests"]) if row else 0)  # a quiet project reads 0
        if row is None:
            continue  # rates of no requests are undefined: no sample rather than a made-up 0
        if row["with_attempt"]:
            _set(rates["availability"], series, rate(row["served"], row["with_attempt"]) or 0.0)
        _set(rates["interception"], series, rate(row["intercepted"], row["requests"]) or 0.0)
        _set(rates["violation"], series, rate(row["escaped"], row["requests"]) or 0.0)
        _set(rates["detected"], series, rate(row["violation_detected"], row["requests"]) or 0.0)
    return [requests, *rates.values()]


def layer_families(query: MetricsQuery, labels: ProjectLabels) -> list[Metric]:
    """Policy checks per project and enforcement layer, and the layer's interception rate."""
    rows = {
        (row["project_id"], row["layer"]): row
        for row in rollup_totals(LAYERS, query, ("project_id", "layer"), sketches=())
    }
    checks = GaugeMetricFamily(
        "tollgate_layer_checks", "Policy checks in the trailing window, per layer."
    )
    interception = GaugeMetricFamily(
        "tollgate_layer_interception_rate",
        "Share of a layer's checks in the trailing window that blocked or modified.",
    )
    for project_id, layer in _ordered(labels, rows):
        row = rows[(project_id, layer)]
        series = {**labels[project_id], "layer": layer}
        _set(checks, series, int(row["checks"]))
        _set(interception, series, rate(row["blocks"] + row["modifies"], row["checks"]) or 0.0)
    return [checks, interception]


def budget_families(projects: Iterable[Project], *, now: datetime) -> list[Metric]:
    """Each active budget's current period: amount, spent, burn, run rate and forecast."""
    budgets = Budget.objects.filter(is_active=True).select_related("organization", "project")
    ledger = SpendLedger(projects)
    amount = GaugeMetricFamily("tollgate_budget_amount_usd", "A budget's amount per period, USD.")
    spent = GaugeMetricFamily(
        "tollgate_budget_spent_usd", "Spent in the budget's current period, USD."
    )
    burn = GaugeMetricFamily(
        "tollgate_budget_burn_ratio",
        "Spent in the current period / the budget's amount (1 = the budget is used up).",
    )
    run_rate = GaugeMetricFamily(
        "tollgate_budget_run_rate_usd_per_day",
        "Spend per day over the trailing min(7, elapsed) days of the period, USD.",
    )
    forecast = GaugeMetricFamily(
        "tollgate_budget_forecast_usd",
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
        _set(amount, series, budget.amount_usd)
        _set(spent, series, status.spent)
        _set(burn, series, round(float(status.burn_ratio), 6))
        _set(run_rate, series, round(status.run_rate_per_day, 8))
        _set(forecast, series, round(status.forecast, 8))
    return [amount, spent, burn, run_rate, forecast]


def alert_family() -> GaugeMetricFamily:
    """Firing alerts per organization, project, kind and severity.

    Every group that has ever held an alert is listed, so a group whose alerts all resolved
    reads 0 instead of vanishing (an absent series cannot end a Prometheus alert cleanly).
    """
    rows = (
        Alert.objects.values("organization__name", "project__name", "kind", "severity")
        .annotate(firing=Count("pk", filter=Q(state=AlertState.FIRING)))
        .order_by("organization__name", "project__name", "kind", "severity")
    )
    firing = GaugeMetricFamily("tollgate_alerts_firing", "Alerts firing now, by kind and severity.")
    for row in rows:
        series = {
            "organization": row["organization__name"],
            "project": row["project__name"] or "",
            "kind": row["kind"],
            "severity": row["severity"],
        }
        _set(firing, series, row["firing"])
    return firing


def notification_family() -> GaugeMetricFamily:
    """Emails that ran out of send attempts (outbox rows in the terminal `failed` state) per
    organization: mail nobody received until an admin sends it again. Every organization with
    an outbox row is listed, so a cleared one reads 0."""
    rows = (
        Notification.objects.values("organization__name")
        .annotate(failed=Count("pk", filter=Q(state=NotificationState.FAILED)))
        .order_by("organization__name")
    )
    failed = GaugeMetricFamily(
        "tollgate_notifications_failed",
        "Emails that ran out of send attempts (outbox rows marked failed) and wait for an "
        "admin to send them again.",
    )
    for row in rows:
        _set(failed, {"organization": row["organization__name"]}, row["failed"])
    return failed

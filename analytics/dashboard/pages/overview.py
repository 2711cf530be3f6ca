"""Overview: each project's health against its rules, the morning's headline figures, each
against the previous window of the same length, the firing alerts, and traffic and spend over
time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from django.db.models import Count, Q

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Change, Figure, amount, count, figure
from analytics.dashboard.health import HEALTH_COLUMNS, health_rows
from analytics.dashboard.pages.alerts import organization_alerts
from analytics.dashboard.series import compared_with_previous
from analytics.formatting import usd
from analytics.metrics.results import Summary
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from analytics.models import AlertState

FIRING_SHOWN = 10


def _compared(
    summary: Summary,
    before: Summary,
    metric: str,
    label: str,
    kind: str,
    key: str | Callable[[Summary], Any],
    **options: Any,
) -> Figure:
    """A figure of this window against the previous one (`key`: a field, or how to read it)."""
    value_of = key if callable(key) else (lambda s: getattr(s, key))
    return figure(
        metric, label, kind, value_of(summary), previous=value_of(before), compare=True, **options
    )


def headline(summary: Summary, before: Summary) -> list[Figure]:
    """The overview's figures from two summaries (this window and the previous one)."""
    compared = partial(_compared, summary, before)
    return [
        compared("requests", "Requests", "count", "requests", unit="requests"),
        compared("availability", "Availability", "rate", "availability", better="higher"),
        compared(
            "latency_p95_ms",
            "P95 latency",
            "ms",
            lambda s: s.latency_ms.p95,
            better="lower",
        ),
        compared(
            "cost_usd",
            "Spend",
            "money",
            "cost_usd",
            note=f"{count(summary.unpriced_attempts)} unpriced attempts not included"
            if summary.unpriced_attempts
            else "",
        ),
        compared("interception_rate", "Interception rate", "rate", "interception_rate"),
        compared(
            "violation_rate",
            "Escaped violation rate",
            "rate",
            "violation_rate",
            better="lower",
            note="requests with a violation found at review",
        ),
        compared(
            "roi",
            "ROI",
            "roi",
            "roi",
            better="higher",
            note="(routing + error-cost savings - enforcement cost) ÷ enforcement cost",
        ),
        compared(
            "savings_multiple",
            "Savings multiple",
            "multiple",
            "savings_multiple",
            better="higher",
            note="(routing + error-cost savings) ÷ enforcement cost",
        ),
    ]


def firing_figure(counts: dict[str, int]) -> Figure:
    """Alerts firing now, and how many started firing in this window and the one before."""
    started, before = counts["started"], counts["started_before"]
    tone = "neutral" if started == before else "bad" if started > before else "good"
    return Figure(
        metric="firing_alerts",
        label="Firing alerts",
        value=counts["firing"],
        display=count(counts["firing"], "firing"),
        previous=None,
        change=Change(f"{started} started firing in this window, {before} in the previous", tone),
    )


def overview_context(
    selection: Selection, *, organization_id: int, now: datetime
) -> dict[str, Any]:
    """The overview: health per project, headline figures against the previous window,
    firing alerts, charts."""
    query = selection.query
    summary = metrics_summary(query)
    before = metrics_summary(selection.previous)
    alerts = organization_alerts(selection, organization_id=organization_id)
    window, previous = selection.window, selection.previous.window
    counts = alerts.aggregate(
        firing=Count("pk", filter=Q(state=AlertState.FIRING)),
        started=Count("pk", filter=_started_in(window)),
        started_before=Count("pk", filter=_started_in(previous)),
    )
    empty = not summary.requests and not summary.attempts
    start = selection.buckets()[0]
    return {
        "health": health_rows(selection, organization_id=organization_id, now=now),
        "health_columns": HEALTH_COLUMNS,
        "figures": [*headline(summary, before), firing_figure(counts)],
        "firing": list(alerts.filter(state=AlertState.FIRING)[:FIRING_SHOWN]),
        "firing_count": counts["firing"],
        "empty": empty,
        "charts": []
        if empty
        else [
            charts.line_chart(
                compared_with_previous(selection, "requests", label="Requests"),
                title="Requests per interval, this window and the previous",
                y_label="requests",
                fmt=amount,
                whole=True,
                start=start,
                end=window.end,
            ),
            charts.line_chart(
                compared_with_previous(selection, "cost_usd", label="Spend"),
                title="Spend per interval, this window and the previous",
                y_label="spend (USD)",
                fmt=usd,
                start=start,
                end=window.end,
            ),
        ],
    }


def _started_in(window: Window) -> Q:
    return Q(firing_since__gte=window.start, firing_since__lt=window.end)

"""Routing: the model mix against the expected shares, PSI and band conformance over time,
the complexity bands each project routes by, and models without a price."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.safestring import SafeString

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection, length_label
from analytics.dashboard.formatting import Figure, figure
from analytics.dashboard.series import partial_buckets
from analytics.dashboard.thresholds import active_rules, conformance_minimum, rule_thresholds
from analytics.formatting import percent
from analytics.metrics.breakdowns import metrics_models
from analytics.metrics.budgets import scope_query
from analytics.metrics.drift import metrics_drift, metrics_drift_timeseries
from analytics.metrics.results import Drift, DriftPoint, ModelRow, Summary
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from governance.models import (
    DEFAULT_CONFORMANCE_MIN,
    DEFAULT_THRESHOLDS,
    AlertKind,
    AlertRule,
    ComplexityBand,
    Project,
)

PSI_MODERATE = 0.1


def psi_text(value: float) -> str:
    """A PSI value as the charts print it (three places)."""
    return f"{value:.3f}"


def routing_figures(summary: Summary, models: list[ModelRow]) -> list[Figure]:
    """The routing page's headline figures: attempts, models, routing latency, unpriced."""
    routing_latency = summary.routing_latency_ms
    return [
        figure("attempts", "Attempts", "count", summary.attempts, unit="attempts"),
        figure("models_used", "Models used", "count", len(models), unit="models"),
        figure(
            "routing_latency_p50_ms",
            "Routing decision P50",
            "ms",
            routing_latency.p50,
        ),
        figure("routing_latency_p95_ms", "Routing decision P95", "ms", routing_latency.p95),
        figure(
            "unpriced_attempts",
            "Unpriced attempts",
            "count",
            summary.unpriced_attempts,
            unit="attempts",
            note="models not in the matrix: left out of every money figure",
        ),
    ]


def _series_by_project(
    points: list[DriftPoint],
    value_of: Callable[[DriftPoint], float | None],
    selection: Selection,
) -> list[charts.Series]:
    buckets, partial = selection.buckets(), partial_buckets(selection)
    values: dict[str, dict[datetime, float | None]] = {}
    for point in points:
        values.setdefault(point.project, {})[point.time] = value_of(point)
    return [
        charts.Series(
            project, [(moment, by_time.get(moment)) for moment in buckets], partial=partial
        )
        for project, by_time in sorted(values.items())
    ]


def bands_by_project(project_ids: list[int]) -> dict[int, list[ComplexityBand]]:
    """The complexity bands of each project, lowest score first, in one read."""
    answer: dict[int, list[ComplexityBand]] = {}
    for band in ComplexityBand.objects.filter(project_id__in=project_ids).order_by(
        "project_id", "min_score"
    ):
        answer.setdefault(band.project_id, []).append(band)
    return answer


@dataclass(frozen=True)
class RuleDrift:
    """A drift rule's figures over its own window, ending where the page's window ends: what
    its alert judges, so the page and the alert agree when read at the same time."""

    rule: AlertRule
    window_label: str
    drift: Drift

    @property
    def threshold(self) -> float:
        return float(self.rule.effective_threshold)  # PSI is a float; the column is Decimal

    @property
    def conformance_min(self) -> float:
        return conformance_minimum(self.rule)

    @property
    def judged(self) -> bool:
        """Whether the rule judges this window: enough non-fallback attempts and a PSI."""
        drift = self.drift
        return drift.psi is not None and drift.nonfallback_attempts >= self.rule.min_requests

    @property
    def breached(self) -> bool:
        """As the evaluation judges it: PSI above the threshold or conformance below the
        minimum, once the rule has enough attempts to judge."""
        drift = self.drift
        low = drift.conformance is not None and drift.conformance < self.conformance_min
        return self.judged and ((drift.psi is not None and drift.psi > self.threshold) or low)


def rule_drifts(selection: Selection) -> dict[int, list[RuleDrift]]:
    """Per project, each active drift rule's PSI over the rule's window (the last
    `window_minutes` of the page's window), as the alert evaluation reads it."""
    end = selection.window.end
    rules = AlertRule.objects.filter(
        project_id__in=selection.query.project_ids,
        kind=AlertKind.ROUTING_DRIFT,
        is_active=True,
    ).order_by("name")
    answer: dict[int, list[RuleDrift]] = {}
    for rule in rules:
        span = timedelta(minutes=rule.window_minutes)
        (drift,) = metrics_drift(scope_query(rule, Window.of(end - span, end)))
        answer.setdefault(rule.project_id, []).append(
            RuleDrift(rule=rule, window_label=length_label(span), drift=drift)
        )
    return answer


@dataclass(frozen=True)
class ProjectRouting:
    """A project's panel: its drift over the page's window and over each drift rule's own
    window, its complexity bands and its mix chart (with traffic)."""

    project: Project
    drift: Drift
    bands: list[ComplexityBand]
    chart: SafeString | None = None
    rules: tuple[RuleDrift, ...] = ()


def routing_context(selection: Selection) -> dict[str, Any]:
    """The routing page: figures, each project's mix and bands, drift over time."""
    query = selection.query
    summary = metrics_summary(query)
    models = metrics_models(query)
    bands = bands_by_project(query.project_ids)
    by_rule = rule_drifts(selection)
    projects = [
        ProjectRouting(
            project=project,
            drift=drift,
            bands=bands.get(project.pk, []),
            chart=mix_chart(project.name, drift) if summary.attempts else None,
            rules=tuple(by_rule.get(project.pk, ())),
        )
        for project, drift in zip(query.projects, metrics_drift(query), strict=True)
    ]
    figures = routing_figures(summary, models)
    if not summary.attempts:
        return {
            "empty": True,
            "figures": figures,
            "projects": projects,
            "unpriced": [],
            "charts": [],
        }
    return {
        "empty": False,
        "figures": figures,
        "projects": projects,
        "unpriced": [row for row in models if row.unpriced_attempts],
        "charts": drift_charts(selection),
    }


def mix_chart(name: str, drift: Drift) -> SafeString:
    """A project's model mix against the shares its reference expects."""
    return charts.bar_chart(
        [share.model for share in drift.mix],
        [
            charts.Bars("Actual share", [share.share for share in drift.mix]),
            charts.Bars("Expected share", [share.expected_share for share in drift.mix]),
        ],
        title=f"Model mix of {name} against the expected shares",
        y_label="share of non-fallback attempts",
        fmt=percent,
        empty="No routed attempts in this window",
    )


def drift_charts(selection: Selection) -> list[SafeString]:
    """PSI and band conformance per project and interval, with the rules' thresholds."""
    rules = active_rules(selection.query)
    buckets = selection.buckets()
    points = metrics_drift_timeseries(selection.query, interval=selection.interval)
    psi_lines = rule_thresholds(
        rules,
        AlertKind.ROUTING_DRIFT,
        default=DEFAULT_THRESHOLDS[AlertKind.ROUTING_DRIFT],
        default_label="Drifted (PSI above 0.25)",
    )
    conformance_lines = rule_thresholds(
        rules,
        AlertKind.ROUTING_DRIFT,
        default=DEFAULT_CONFORMANCE_MIN,
        default_label="Conformance minimum (default)",
        value_of=conformance_minimum,
    )
    return [
        charts.line_chart(
            _series_by_project(points, lambda point: point.psi, selection),
            title="PSI of the model mix per project (below 0.1 stable, above 0.25 drifted)",
            y_label="PSI",
            fmt=psi_text,
            start=buckets[0],
            end=selection.window.end,
            thresholds=[charts.Threshold(PSI_MODERATE, "Moderate (PSI 0.1)"), *psi_lines],
            empty="No reference mix to compare with in this window",
        ),
        charts.line_chart(
            _series_by_project(points, lambda point: point.conformance, selection),
            title="Band conformance per project (attempts on the model their band expects)",
            y_label="conformance",
            fmt=percent,
            start=buckets[0],
            end=selection.window.end,
            thresholds=conformance_lines,
            axis="fitted",  # conformance sits near 100%: a 0-100% axis hides its drops
            empty="No complexity bands, or no scored attempts, in this window",
        ),
    ]

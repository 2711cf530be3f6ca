"""Enforcement (ops): checks, blocks and modifies per layer and per policy (the most
intercepting policy first, so an over-eager one stands out by name), interception against the
over-interception threshold, escaped violations, catch rate, false positives, overhead."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.safestring import SafeString

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Figure, amount, figure
from analytics.dashboard.series import lines
from analytics.dashboard.thresholds import active_rules, rule_thresholds
from analytics.formatting import percent
from analytics.metrics.breakdowns import metrics_layers, metrics_policies
from analytics.metrics.results import LayerRow, PolicyRow, Summary
from analytics.metrics.summary import metrics_summary
from governance.models import DEFAULT_THRESHOLDS, AlertKind

DEFAULT_OVER_INTERCEPTION = DEFAULT_THRESHOLDS[AlertKind.OVER_INTERCEPTION]
# The list of a policy's latest blocked and modified requests (its own page, by path).
CHARTED_POLICIES = 6  # the most intercepting policies drawn over time; more lines blur


def enforcement_figures(summary: Summary, threshold: float | None) -> list[Figure]:
    """The enforcement page's headline figures, with the over-interception threshold (None
    with several projects in view: each is judged by its own rule)."""
    overhead = summary.overhead_ms
    return [
        figure("requests", "Requests", "count", summary.requests, unit="requests"),
        figure(
            "interception_rate",
            "Interception rate",
            "rate",
            summary.interception_rate,
            note="requests blocked or modified before delivery",
        ),
        figure(
            "over_interception_threshold",
            "Over-interception threshold",
            "rate",
            threshold,
            note=(
                "the rule's, else the default"
                if threshold is not None
                else "each project's own rule: pick a project to see it"
            ),
        ),
        figure("block_rate", "Block rate", "rate", summary.block_rate),
        figure("modify_rate", "Modify rate", "rate", summary.modify_rate),
        figure(
            "violation_rate",
            "Escaped violation rate",
            "rate",
            summary.violation_rate,
            note="violations found at review, not false positives",
        ),
        figure(
            "detected_violation_rate",
            "Detected violation rate",
            "rate",
            summary.detected_violation_rate,
        ),
        figure(
            "catch_rate",
            "Catch rate",
            "rate",
            summary.catch_rate,
            note="violations stopped before delivery",
        ),
        figure(
            "false_positive_rate",
            "False-positive rate",
            "rate",
            summary.false_positive_rate,
            note="of intercepted requests, overturned at review",
        ),
        figure(
            "overhead_p50_ms",
            "Overhead P50",
            "ms",
            overhead.p50,
            note="its checks' latency, summed per request",
        ),
        figure("overhead_p95_ms", "Overhead P95", "ms", overhead.p95),
        figure("overhead_p99_ms", "Overhead P99", "ms", overhead.p99),
        figure(
            "enforcement_cost_usd",
            "Enforcement cost",
            "money",
            summary.enforcement_cost_usd,
            note="interceptions, corrections and the checks' own cost at the project's unit costs",
        ),
    ]


def enforcement_context(selection: Selection) -> dict[str, Any]:
    """The enforcement page: figures, the per-layer and per-policy tables and the
    interception charts."""
    query = selection.query
    summary = metrics_summary(query)
    layers = metrics_layers(query)
    policies = policy_rows(selection, metrics_policies(query))
    # A threshold judges one project's figure: with several in view, none is drawn against
    # their mixed series (the default neither: their own rules may differ from it).
    thresholds = (
        rule_thresholds(
            active_rules(query),
            AlertKind.OVER_INTERCEPTION,
            default=DEFAULT_OVER_INTERCEPTION,
            default_label="Over-interception threshold (default)",
        )
        if len(query.projects) == 1
        else []
    )
    figures = enforcement_figures(summary, thresholds[0].value if thresholds else None)
    empty = not summary.requests and not any(layer.checks for layer in layers)
    if empty:
        return {
            "empty": True,
            "figures": figures,
            "layers": layers,
            "policies": policies,
            "charts": [],
        }
    return {
        "empty": False,
        "figures": figures,
        "layers": layers,
        "policies": policies,
        "model_filtered": bool(query.model or query.mode),
        "charts": [
            *enforcement_charts(selection, layers, thresholds),
            policy_chart(selection, [row.policy for row, _ in policies[:CHARTED_POLICIES]]),
        ],
    }


def policy_rows(selection: Selection, rows: list[PolicyRow]) -> list[tuple[PolicyRow, str]]:
    """Each policy row (most intercepting first, as `metrics_policies` orders them) with the
    link to its latest blocked and modified requests, in the page's window and filters."""
    path = reverse("dashboard:interceptions")
    return [
        (row, f"{path}?{urlencode({**selection.params, 'policy': row.policy})}") for row in rows
    ]


def policy_chart(selection: Selection, policies: list[str]) -> SafeString:
    """Interception rate (blocks and modifies per check) over time of the most intercepting
    policies."""
    start, end = selection.buckets()[0], selection.window.end
    shown = set(policies)
    return charts.line_chart(
        [
            series
            for series in lines(selection, "layer_interception_rate", group_by="policy")
            if series.name in shown
        ],
        title="Interception rate per policy (blocks and modifies per check), most intercepting",
        y_label="share of checks",
        fmt=percent,
        start=start,
        end=end,
    )


def enforcement_charts(
    selection: Selection, layers: list[LayerRow], thresholds: list[charts.Threshold]
) -> list[SafeString]:
    """Interception against its threshold, escaped violations, and checks per layer."""
    start, end = selection.buckets()[0], selection.window.end
    return [
        charts.line_chart(
            lines(selection, "interception_rate", name="Interception rate"),
            title=(
                "Interception rate against the over-interception threshold"
                if thresholds
                else "Interception rate"
            ),
            y_label="interception rate",
            fmt=percent,
            start=start,
            end=end,
            thresholds=thresholds,
        ),
        charts.line_chart(
            lines(selection, "violation_rate", name="Escaped violation rate"),
            title="Escaped violation rate",
            y_label="violation rate",
            fmt=percent,
            start=start,
            end=end,
        ),
        charts.bar_chart(
            [layer.layer for layer in layers],
            [
                charts.Bars("Checks", [layer.checks for layer in layers]),
                charts.Bars("Blocks", [layer.blocks for layer in layers]),
                charts.Bars("Modifies", [layer.modifies for layer in layers]),
            ],
            title="Checks, blocks and modifies per layer",
            y_label="checks",
            fmt=amount,
            whole=True,
        ),
        charts.line_chart(
            lines(selection, "layer_interception_rate", group_by="layer"),
            title="Interception rate per layer (blocks and modifies per check)",
            y_label="share of checks",
            fmt=percent,
            start=start,
            end=end,
        ),
    ]

"""One alert: its rule (or budget), its state and history, the value the rule measured over
time against its threshold, the mails it queued, and what can be done about it.

The chart draws the rule's own judgements of the alert's scope, as stored by each evaluation
(analytics.alerts.measurements computed them), so the line is the figure the alert fired on;
a budget's chart draws its period's running spend against the money each threshold means.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils.safestring import SafeString

from analytics.alerts.selectors import (
    Judgement,
    alert_deliveries,
    alert_judgements,
    alert_transitions,
)
from analytics.dashboard import charts
from analytics.dashboard.formatting import count
from analytics.dashboard.pages.alerts import SILENCE_CHOICES, alert_value
from analytics.formatting import budget_scope, usd
from analytics.metrics.budgets import budget_spend_series
from analytics.models import Alert, AlertState
from governance.models import DEFAULT_CONFORMANCE_MIN, AlertKind, AlertRule, Budget

CHART_CONTEXT = timedelta(hours=1)  # before the incident opened, after it resolved
CHART_SPAN_LEAST = timedelta(hours=3)
CHART_SPAN_MOST = timedelta(hours=12)
MOST_POINTS = 360  # past this, each group of judgements is drawn as its highest value

MEASURED = {
    AlertKind.OVER_INTERCEPTION: "Interception rate",
    AlertKind.ERROR_RATE: "Error rate",
    AlertKind.MODEL_FAILURE: "Error rate",
    AlertKind.LATENCY_SLO: "P95 latency (ms)",
    AlertKind.COST_OVERRUN: "Spend in the rule's window (USD)",
    AlertKind.ROUTING_DRIFT: "PSI",
    AlertKind.ROLLUP_MISMATCH: "Mismatched hours",
    AlertKind.ARCHITECTURE_MISMATCH: "Advice findings that hold",
}


def chart_span(alert: Alert, now: datetime) -> tuple[datetime, datetime]:
    """The time the chart covers: the incident with an hour either side, at least three
    hours, at most the last twelve (to its resolution, or now)."""
    end = now
    if alert.state == AlertState.RESOLVED and alert.resolved_at is not None:
        end = min(now, alert.resolved_at + CHART_CONTEXT)
    began = alert.pending_since or alert.firing_since or end
    start = max(min(began - CHART_CONTEXT, end - CHART_SPAN_LEAST), end - CHART_SPAN_MOST)
    return start, end


def thinned(judgements: list[Judgement], most: int = MOST_POINTS) -> list[Judgement]:
    """At most `most` points: consecutive judgements grouped, each group drawn as its
    highest value (every rule here fires above its line, so the peaks are what matter)."""
    if len(judgements) <= most:
        return judgements
    size = -(-len(judgements) // most)  # ceiling division
    kept = []
    for index in range(0, len(judgements), size):
        group = judgements[index : index + size]
        measured = [j for j in group if j.value is not None]
        kept.append(max(measured, key=lambda j: j.value or 0.0) if measured else group[-1])
    return kept


def _rule_value(alert: Alert, value: float) -> str:
    if alert.kind == AlertKind.ROLLUP_MISMATCH:
        return count(value, "hours")
    return alert_value(alert, value)


def rule_chart(alert: Alert, rule: AlertRule, now: datetime) -> SafeString:
    """The rule's judgements of the alert's scope over the chart's span, with its line."""
    start, end = chart_span(alert, now)
    judgements = thinned(alert_judgements(alert, start=start, end=end))
    series = charts.Series(
        f"Measured ({alert.scope}, last {rule.window_minutes} min)",
        [(j.at, j.value) for j in judgements],
    )
    threshold = charts.Threshold(float(rule.effective_threshold), f"Threshold of “{rule.name}”")
    return charts.line_chart(
        [series],
        title=f"{rule.name}: measured against its threshold",
        y_label=MEASURED.get(AlertKind(rule.kind), "Value"),
        fmt=lambda value: _rule_value(alert, value),
        start=start,
        end=end,
        thresholds=[threshold],
        empty="No evaluation of this rule in this span",
    )


def budget_lines(budget: Budget) -> list[charts.Threshold]:
    """The money each of the budget's thresholds means, and its amount."""
    percents = sorted({*(Decimal(str(value)) for value in budget.thresholds), Decimal(100)})
    return [
        charts.Threshold(
            float(budget.amount_usd * value / 100),
            "Budget amount" if value == 100 else f"{value:g}% of the budget",
        )
        for value in percents
    ]


def budget_chart(budget: Budget, now: datetime) -> tuple[SafeString, Decimal]:
    """The period's running spend against the thresholds' amounts, and the spend so far."""
    points = budget_spend_series(budget, now)
    chart = charts.line_chart(
        [charts.Series("Spent this period", [(p.at, float(p.spent)) for p in points])],
        title=f"{budget.name} ({budget_scope(budget)}): spend this {budget.period}",
        y_label="Spent (USD)",
        fmt=usd,
        start=points[0].at,
        end=now,
        thresholds=budget_lines(budget),
    )
    return chart, points[-1].spent


def rule_facts(alert: Alert, rule: AlertRule) -> list[tuple[str, str]]:
    """What the rule says, as (label, value) rows."""
    facts = [
        ("Rule", rule.name),
        ("Kind", AlertKind(rule.kind).label),
        ("Project", rule.project.name),
        ("Scope", rule.scope_label if alert.scope == rule.scope_label else alert.scope),
        ("Threshold", _rule_value(alert, float(rule.effective_threshold))),
    ]
    if rule.kind == AlertKind.ROUTING_DRIFT:
        minimum = rule.conformance_min
        facts.append(
            ("Band conformance minimum", f"{(minimum or DEFAULT_CONFORMANCE_MIN) * 100:.1f}%")
        )
    facts += [
        ("Window", f"{rule.window_minutes} min"),
        ("For", f"{rule.for_minutes} min" if rule.for_minutes else "fires at once"),
        ("Minimum requests", count(rule.min_requests)),
        ("Severity", rule.severity),
        ("Reminders", f"every {rule.repeat_minutes} min while firing, until acknowledged"),
        ("Mail on resolve", "yes" if rule.send_resolved else "no"),
        ("Recipients", ", ".join(rule.recipients) or "the organization's ops and admins"),
        ("Channel", "email"),
        ("Active", "yes" if rule.is_active else "no (not evaluated)"),
    ]
    return facts


def budget_facts(budget: Budget, spent: Decimal) -> list[tuple[str, str]]:
    """What the budget says, and what its scope has spent this period."""
    percents = ", ".join(f"{value:g}%" for value in sorted(budget.thresholds))
    return [
        ("Budget", budget.name),
        ("Kind", AlertKind.COST_OVERRUN.label),
        ("Scope", budget_scope(budget)),
        ("Period", f"each calendar {budget.period} (UTC)"),
        ("Amount", usd(budget.amount_usd)),
        ("Thresholds", percents or "none"),
        ("Spent this period", usd(spent)),
        ("Forecast notice", "yes" if budget.notify_forecast else "no"),
        ("Recipients", ", ".join(budget.recipients) or "the organization's finance and admins"),
        ("Channel", "email"),
    ]


def alert_context(alert: Alert, *, now: datetime) -> dict[str, Any]:
    """The alert page of an alert already found in the member's organization."""
    if alert.rule is not None:
        chart, facts = rule_chart(alert, alert.rule, now), rule_facts(alert, alert.rule)
    elif alert.budget is not None:
        chart, spent = budget_chart(alert.budget, now)
        facts = budget_facts(alert.budget, spent)
    else:  # an alert keeps its rule or budget (both cascade): nothing to draw against
        chart, facts = SafeString(""), []
    return {
        "alert": alert,
        "name": alert.name,
        "value": _rule_value(alert, alert.value) if alert.value is not None else "—",
        "threshold": (_rule_value(alert, alert.threshold) if alert.threshold is not None else "—"),
        "facts": facts,
        "charts": [chart] if chart else [],
        "transitions": [
            {"evaluation": evaluation, "value": _rule_value(alert, evaluation.value)}
            if evaluation.value is not None
            else {"evaluation": evaluation, "value": "—"}
            for evaluation in alert_transitions(alert)
        ],
        "deliveries": alert_deliveries(alert),
        "silence_choices": [(key, label) for key, (label, _) in SILENCE_CHOICES.items()],
    }

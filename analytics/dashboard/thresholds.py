"""The alert rules' thresholds to draw on charts, so a line shows how close a figure is to
raising an alert (e.g. the over-interception threshold on the interception chart)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from analytics.dashboard.charts import Threshold
from analytics.metrics.query import MetricsQuery
from governance.models import DEFAULT_CONFORMANCE_MIN, AlertRule

MOST_LINES = 3  # more lines than this say nothing a reader can use


def active_rules(query: MetricsQuery) -> list[AlertRule]:
    """Active rules of the projects in view, in one read."""
    return list(
        AlertRule.objects.filter(project_id__in=query.project_ids, is_active=True)
        .select_related("project")
        .order_by("project__name", "name")
    )


def rule_thresholds(
    rules: Sequence[AlertRule],
    kind: str,
    *,
    default: Decimal | float | None = None,
    default_label: str = "",
    value_of: Callable[[AlertRule], Decimal | float] | None = None,
) -> list[Threshold]:
    """One line per distinct threshold of the rules of `kind` (the default when none)."""
    value_of = value_of or (lambda rule: rule.effective_threshold)
    lines: dict[float, Threshold] = {}
    for rule in rules:
        value = float(value_of(rule))  # a line on a chart: thresholds are Decimal, plots float
        if rule.kind == kind and value not in lines:
            scope = "" if rule.scope_label == "project" else f", {rule.scope_label}"
            lines[value] = Threshold(value, f"Rule “{rule.name}” ({rule.project.name}{scope})")
    if not lines and default is not None:
        return [Threshold(float(default), default_label)]
    return sorted(lines.values(), key=lambda line: line.value)[:MOST_LINES]


def conformance_minimum(rule: AlertRule) -> float:
    """The rule's band-conformance minimum, or the default when it sets none."""
    return rule.conformance_min if rule.conformance_min is not None else DEFAULT_CONFORMANCE_MIN

"""The alert rules' thresholds to draw on charts, so a line shows how close a figure is to
raising an alert (e.g. the over-interception threshold on the interception chart).

A rule judges one scope (a project, or a service or model of it), so its line is drawn only
on a chart whose series is that scope: one project selected and no narrower filter than the
rule's. On organization-wide charts a project's threshold would be read against a series that
mixes every project, so none is drawn there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from analytics.dashboard.charts import Threshold
from analytics.metrics.query import MetricsQuery
from governance.models import DEFAULT_CONFORMANCE_MIN, AlertKind, AlertRule, ScopeKind

MOST_LINES = 3  # more lines than this say nothing a reader can use


def active_rules(query: MetricsQuery) -> list[AlertRule]:
    """Active rules whose scope is what the page's figures measure, in one read (none when
    the page shows more than one project)."""
    if len(query.projects) != 1:
        return []
    rules = (
        AlertRule.objects.filter(project_id=query.projects[0].pk, is_active=True)
        .select_related("project")
        .order_by("name")
    )
    return [rule for rule in rules if scope_matches(rule, query)]


def rules_of_projects(query: MetricsQuery) -> list[AlertRule]:
    """Every active rule of the projects in view, in one read: the health grid judges each
    project's own row by its own rules, whatever the number of projects."""
    return list(
        AlertRule.objects.filter(project_id__in=query.project_ids, is_active=True)
        .select_related("project")
        .order_by("project__name", "name")
    )


def scope_matches(rule: AlertRule, query: MetricsQuery) -> bool:
    """Whether the query's figures are the rule's: the rule's project with no filter, or
    filtered to exactly the rule's service or model. Mode and environment filters narrow every
    scope, so nothing matches under them."""
    applied = query.applied
    if query.mode is not None or query.environment is not None:
        return False
    if rule.scope_kind == ScopeKind.PROJECT:
        return "service" not in applied and "model" not in applied
    if rule.scope_kind == ScopeKind.SERVICE:
        return applied.get("service") == rule.scope_name and "model" not in applied
    if rule.scope_kind == ScopeKind.MODEL:
        return applied.get("model") == rule.scope_name and "service" not in applied
    return False


def rule_thresholds(
    rules: Sequence[AlertRule],
    kind: str,
    *,
    default: Decimal | float | None = None,
    default_label: str = "",
    value_of: Callable[[AlertRule], Decimal | float] | None = None,
    per_model: bool = False,
) -> list[Threshold]:
    """One line per distinct threshold of the rules of `kind` (the default when none).
    `per_model` charts draw a line per model: only rules judging each model (model failure)
    or the one model filtered to belong on them, not a project-wide figure's."""
    value_of = value_of or (lambda rule: rule.effective_threshold)
    lines: dict[float, Threshold] = {}
    for rule in rules:
        if rule.kind != kind or not fits_chart(rule, per_model=per_model):
            continue
        value = float(value_of(rule))  # a line on a chart: thresholds are Decimal, plots float
        if value not in lines:
            scope = "" if rule.scope_label == "project" else f", {rule.scope_label}"
            lines[value] = Threshold(value, f"Rule “{rule.name}” ({rule.project.name}{scope})")
    if not lines and default is not None:
        return [Threshold(float(default), default_label)]
    return sorted(lines.values(), key=lambda line: line.value)[:MOST_LINES]


def fits_chart(rule: AlertRule, *, per_model: bool) -> bool:
    """Whether a (scope-matching) rule's figure is what the chart's lines show: a model
    failure rule judges each model, so it fits lines per model only; a model-scoped rule
    matched the model filter, so its model is the chart's one line either way; any other rule
    judges the project or service as a whole, which lines per model are not."""
    if rule.kind == AlertKind.MODEL_FAILURE:
        return per_model
    return rule.scope_kind == ScopeKind.MODEL or not per_model


def conformance_minimum(rule: AlertRule) -> float:
    """The rule's band-conformance minimum, or the default when it sets none."""
    return rule.conformance_min if rule.conformance_min is not None else DEFAULT_CONFORMANCE_MIN

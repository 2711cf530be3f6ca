"""Loading budgets and alert rules from a file (DESIGN.md `load_rules`), idempotent by name.

A rule or budget already present under the same name is updated to what the file says; one
missing from the file is left alone (files describe what they name, nothing else). Every
change goes through the model's history, so the audit trail shows rule files too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from governance.models import (
    NAMED_SCOPES,
    AlertKind,
    AlertRule,
    Budget,
    BudgetPeriod,
    Project,
    ScopeKind,
    Severity,
    findings_problem,
    policy_scope_problem,
)
from governance.numbers import decimal_parse
from governance.services import GovernanceError

RULE_INTEGERS = {
    "window_minutes": 15,
    "for_minutes": 0,
    "min_requests": 100,
    "repeat_minutes": 240,
}


@dataclass
class RulesLoadResult:
    budgets_created: int = 0
    budgets_updated: int = 0
    rules_created: int = 0
    rules_updated: int = 0

    @property
    def changed(self) -> bool:
        return any(vars(self).values())


def scope_parse(
    value: Any, where: str, *, organization_allowed: bool, policy_allowed: bool = False
) -> tuple[str, str]:
    """`project`, `service:NAME`, `model:NAME` (and `organization` for budgets, `policy:NAME`
    for alert rules)."""
    if not isinstance(value, str) or not value:
        raise GovernanceError(f"{where}: expected project, service:NAME or model:NAME")
    kind, _, name = value.partition(":")
    allowed = {ScopeKind.PROJECT, ScopeKind.SERVICE, ScopeKind.MODEL}
    if organization_allowed:
        allowed.add(ScopeKind.ORGANIZATION)
    if policy_allowed:
        allowed.add(ScopeKind.POLICY)
    if kind not in allowed:
        raise GovernanceError(f"{where}: unknown scope {value!r}")
    if kind in NAMED_SCOPES and not name:
        raise GovernanceError(f"{where}: {kind} scope needs a name, e.g. {kind}:NAME")
    if kind in (ScopeKind.PROJECT, ScopeKind.ORGANIZATION) and name:
        raise GovernanceError(f"{where}: {kind} scope takes no name")
    return kind, name


def _recipients(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(item, str) and "@" in item for item in value
    ):
        raise GovernanceError(f"{where}: expected a list of email addresses")
    return value


def _choice(value: Any, choices: type[models.TextChoices], where: str) -> str:
    if value not in choices.values:
        raise GovernanceError(f"{where}: expected one of {', '.join(choices.values)}")
    return value


def _number(value: Any, where: str) -> float | None:
    """A figure that is no money (a rate, a latency): read exactly like a threshold."""
    exact = _threshold(value, where)
    return None if exact is None else float(exact)


def _threshold(value: Any, where: str) -> Decimal | None:
    """A rule's threshold, exact: a JSON number or a decimal string in ASCII digits, kept as
    a Decimal (a cost ceiling is money), so a second load compares Decimal with the stored
    numeric and finds nothing to change. More places than the column keeps are refused by the
    model's validation (`_save`), naming the field."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GovernanceError(f"{where}: expected a number or a decimal string")
    try:
        return decimal_parse(value)  # a JSON float: the shortest text that reads back as it
    except ValueError as exc:
        raise GovernanceError(f"{where}: {value!r} is not a number ({exc})") from None


def _findings(kind: str, value: Any, where: str) -> list[str]:
    """An architecture_mismatch rule's finding codes (absent or empty: any finding but
    no_profile); other kinds take none."""
    findings = [] if value is None else value
    problem = findings_problem(kind, findings)
    if problem:
        raise GovernanceError(f"{where}: {problem}")
    return list(findings)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GovernanceError(f"{where}: expected a whole number >= 0")
    return value


def _budget_fields(item: dict[str, Any], where: str) -> dict[str, Any]:
    scope_kind, scope_name = scope_parse(
        item.get("scope", "project"), f"{where}.scope", organization_allowed=True
    )
    raw = item.get("amount_usd")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise GovernanceError(f"{where}.amount_usd: expected a decimal string")
    try:
        amount = decimal_parse(raw)
    except ValueError as exc:
        raise GovernanceError(f"{where}.amount_usd: expected a decimal string ({exc})") from None
    if amount <= 0:
        raise GovernanceError(f"{where}.amount_usd: must be above 0")
    thresholds = item.get("thresholds", [50, 80, 100])
    if not isinstance(thresholds, list) or not all(
        isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1000
        for value in thresholds
    ):
        raise GovernanceError(f"{where}.thresholds: expected whole percents, e.g. [50, 80, 100]")
    return {
        "scope_kind": scope_kind,
        "scope_name": scope_name,
        "period": _choice(item.get("period"), BudgetPeriod, f"{where}.period"),
        "amount_usd": amount,
        "thresholds": sorted(set(thresholds)),
        "notify_forecast": bool(item.get("notify_forecast", True)),
        "recipients": _recipients(item.get("recipients"), f"{where}.recipients"),
    }


def _rule_fields(item: dict[str, Any], where: str) -> dict[str, Any]:
    scope_kind, scope_name = scope_parse(
        item.get("scope", "project"),
        f"{where}.scope",
        organization_allowed=False,
        policy_allowed=True,
    )
    kind = _choice(item.get("kind"), AlertKind, f"{where}.kind")
    problem = policy_scope_problem(kind, scope_kind)
    if problem:
        raise GovernanceError(f"{where}.scope: {problem}")
    fields: dict[str, Any] = {
        "kind": kind,
        "scope_kind": scope_kind,
        "scope_name": scope_name,
        "threshold": _threshold(item.get("threshold"), f"{where}.threshold"),
        "conformance_min": _number(item.get("conformance_min"), f"{where}.conformance_min"),
        "severity": _choice(item.get("severity", "warning"), Severity, f"{where}.severity"),
        "send_resolved": bool(item.get("send_resolved", True)),
        "recipients": _recipients(item.get("recipients"), f"{where}.recipients"),
        "findings": _findings(kind, item.get("findings"), f"{where}.findings"),
    }
    integers = {
        name: _integer(item.get(name, default), f"{where}.{name}")
        for name, default in RULE_INTEGERS.items()
    }
    if integers["window_minutes"] < 1 or integers["repeat_minutes"] < 1:
        raise GovernanceError(f"{where}: window_minutes and repeat_minutes must be at least 1")
    return fields | integers


def _named_items(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = document.get(key, [])
    if not isinstance(items, list):
        raise GovernanceError(f"{key}: expected a list")
    names: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise GovernanceError(f"{key}[{index}].name: expected a non-empty string")
        if item["name"] in names:
            raise GovernanceError(f"{key}[{index}].name: {item['name']!r} is listed twice")
        names.add(item["name"])
    return items


@transaction.atomic
def rules_load(*, project: Project, document: Any) -> RulesLoadResult:
    """Create or update the budgets and alert rules a document names, all or nothing."""
    if not isinstance(document, dict):
        raise GovernanceError("the file must hold an object with budgets and/or alert_rules")
    unknown = set(document) - {"budgets", "alert_rules"}
    if unknown:
        raise GovernanceError(f"unknown keys: {', '.join(sorted(unknown))}")
    result = RulesLoadResult()
    organization = project.organization
    for index, item in enumerate(_named_items(document, "budgets")):
        fields = _budget_fields(item, f"budgets[{index}]")
        in_project = fields["scope_kind"] != ScopeKind.ORGANIZATION
        identity = {
            "organization": organization,
            "project": project if in_project else None,
            "name": item["name"],
        }
        outcome = _upsert(Budget, identity, fields, f"budgets[{index}]")
        result.budgets_created += outcome == "created"
        result.budgets_updated += outcome == "updated"
    for index, item in enumerate(_named_items(document, "alert_rules")):
        fields = _rule_fields(item, f"alert_rules[{index}]")
        identity = {"project": project, "name": item["name"]}
        outcome = _upsert(AlertRule, identity, fields, f"alert_rules[{index}]")
        result.rules_created += outcome == "created"
        result.rules_updated += outcome == "updated"
    return result


def _upsert(
    model: type[Budget | AlertRule], identity: dict[str, Any], fields: dict[str, Any], where: str
) -> str:
    """Create or update the row named by `identity`: "created", "updated" or "unchanged"
    (an unchanged row is not saved, so it gains no audit row)."""
    instance = model.objects.filter(**identity).first()
    if instance is not None and all(getattr(instance, k) == v for k, v in fields.items()):
        return "unchanged"
    outcome = "created" if instance is None else "updated"
    _save(instance or model(**identity), fields, where)
    return outcome


def _save(instance: Budget | AlertRule, fields: dict[str, Any], where: str) -> None:
    for name, value in fields.items():
        setattr(instance, name, value)
    try:
        instance.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise GovernanceError(f"{where}.{field}: {messages[0]}") from None
    instance.save()

"""Admin edits of prices, bands, budgets and rules leave an audit row (who, when, before,
after); staff of one organization cannot reach another's budgets or rules; load_rules."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import AlertRule, Budget, ComplexityBand, MatrixModel, ModelPrice
from tests.governance.factories import AlertRuleFactory, BudgetFactory, UserFactory

pytestmark = pytest.mark.django_db

RULES: dict[str, list[dict[str, Any]]] = {
    "budgets": [
        {
            "name": "monthly",
            "scope": "project",
            "period": "month",
            "amount_usd": "100.00",
            "thresholds": [50, 80, 100],
            "recipients": ["finance@example.com"],
        }
    ],
    "alert_rules": [
        {
            "name": "too many blocks",
            "kind": "over_interception",
            "scope": "service:router",
            "threshold": 0.01,
            "window_minutes": 15,
            "for_minutes": 5,
            "min_requests": 100,
            "severity": "critical",
            "repeat_minutes": 60,
            "send_resolved": True,
            "recipients": ["ops@example.com"],
        }
    ],
}


@pytest.fixture
def admin_user(project):
    return UserFactory.create(organization=project.organization, username="ada", role="admin")


def _form(instance, **changes) -> dict:
    data = {}
    for field in instance._meta.concrete_fields:
        if not field.editable or field.primary_key:
            continue
        value = getattr(instance, field.attname)
        if field.get_internal_type() == "DateTimeField" and value is not None:
            data[f"{field.name}_0"], data[f"{field.name}_1"] = value.date(), value.time()
        else:
            data[field.name] = value
    data = {
        name: ("" if value is None else json.dumps(value) if isinstance(value, list) else value)
        for name, value in data.items()
    }
    data = {name: value for name, value in data.items() if value is not False}
    if isinstance(instance, AlertRule):  # findings are ticked boxes: one value per code
        data["findings"] = instance.findings
    data.update(changes)
    return data


def _same(stored, posted: str) -> bool:
    """A stored value equals what the form posted (numbers compared as numbers)."""
    if isinstance(stored, str):
        return stored == posted
    return Decimal(str(stored)) == Decimal(posted)


def test_load_rules_is_idempotent_by_name(project, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES))
    call_command("load_rules", project.organization.name, project.name, str(path))
    call_command("load_rules", project.organization.name, project.name, str(path))
    budget = Budget.objects.get()
    rule = AlertRule.objects.get()
    assert (budget.amount_usd, budget.thresholds) == (Decimal("100.00"), [50, 80, 100])
    assert (rule.scope_kind, rule.scope_name, rule.severity) == ("service", "router", "critical")
    assert budget.history.count() == 1 and rule.history.count() == 1  # the second load: no-op


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budgets": [{**RULES["budgets"][0], "period": "fortnight"}]}, "budgets[0].period"),
        ({"alert_rules": [{**RULES["alert_rules"][0], "kind": "bogus"}]}, "alert_rules[0].kind"),
        ({"alert_rules": [{**RULES["alert_rules"][0], "scope": "team:x"}]}, "alert_rules[0].scope"),
        ({"budgets": [{**RULES["budgets"][0], "amount_usd": "-1"}]}, "budgets[0].amount_usd"),
        # Digits of another script (Arabic-Indic 100 and 5): Decimal() would read them.
        (
            {"budgets": [{**RULES["budgets"][0], "amount_usd": "\u0661\u0660\u0660"}]},
            "budgets[0].amount_usd",
        ),
        (
            {"alert_rules": [{**RULES["alert_rules"][0], "threshold": "\u0665"}]},
            "alert_rules[0].threshold",
        ),
    ],
)
def test_load_rules_names_the_bad_field(project, tmp_path, change, field):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(change))
    with pytest.raises(CommandError, match=field.replace("[", r"\[").replace("]", r"\]")):
        call_command("load_rules", project.organization.name, project.name, str(path))
    assert not Budget.objects.exists() and not AlertRule.objects.exists()


def test_each_kind_of_admin_edit_is_audited(client, admin_user, project):
    client.force_login(admin_user)
    model = MatrixModel.objects.get(project=project, name="gpt-5.4")
    price = ModelPrice.objects.filter(model=model).first()
    band = ComplexityBand.objects.filter(project=project).first()
    assert price is not None and band is not None  # the reference matrix has both
    budget = BudgetFactory.create(project=project, amount_usd=Decimal("10"))
    rule = AlertRuleFactory.create(project=project)
    edits: list[tuple[ModelPrice | ComplexityBand | Budget | AlertRule, str, dict[str, str]]] = [
        (price, "modelprice", {"input_per_1k": "0.009"}),
        (band, "complexityband", {"model_name": "claude-opus-4.6"}),
        (budget, "budget", {"amount_usd": "25.00"}),
        (rule, "alertrule", {"threshold": "0.2"}),
    ]
    for instance, name, changes in edits:
        before = instance.history.count()
        response = client.post(
            f"/admin/governance/{name}/{instance.pk}/change/", _form(instance, **changes)
        )
        assert response.status_code == 302, response.content[:2000]
        latest = instance.history.first()
        assert instance.history.count() == before + 1
        assert latest.history_user == admin_user and latest.history_type == "~"
        for field, value in changes.items():
            assert _same(getattr(latest, field), value), (name, field)
        if latest.prev_record is not None:  # rows bulk-loaded by load_matrix have no "+" row
            delta = latest.diff_against(latest.prev_record)
            assert set(changes) <= {change.field for change in delta.changes}, name
        history = client.get(f"/admin/governance/{name}/{instance.pk}/history/")
        assert history.status_code == 200 and b"ada" in history.content


def test_staff_cannot_reach_another_organizations_budgets_or_rules(client, admin_user):
    budget = BudgetFactory.create(name="secret-budget")  # in an organization of its own
    rule = AlertRuleFactory.create(project=budget.project, name="secret-rule")
    client.force_login(admin_user)
    for name, instance in (("budget", budget), ("alertrule", rule)):
        listing = client.get(f"/admin/governance/{name}/")
        assert listing.status_code == 200 and b"secret-" not in listing.content
        version = instance.history.first().history_id  # a real version, shown to its owner
        for suffix in ("change/", "history/", f"history/{version}/"):
            page = client.get(f"/admin/governance/{name}/{instance.pk}/{suffix}")
            assert page.status_code in (302, 404), suffix
        client.post(f"/admin/governance/{name}/{instance.pk}/change/", {"name": "pwned"})
        instance.refresh_from_db()
        assert instance.name.startswith("secret-")

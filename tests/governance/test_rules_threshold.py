"""load_rules keeps an alert rule's threshold exact (a Decimal from a JSON number or a decimal
string), finds nothing to change on a second load, and names the field of a bad one."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import AlertRule
from governance.rules import rules_load
from governance.services import GovernanceError

pytestmark = pytest.mark.django_db


def _rule(name: str, kind: str, threshold) -> dict:
    return {"name": name, "kind": kind, "threshold": threshold, "recipients": ["ops@x.example"]}


DOCUMENT = {
    "alert_rules": [
        _rule("blocks", "over_interception", 0.01),  # a JSON number
        _rule("spend", "cost_overrun", "100.00000001"),  # money as a decimal string
        _rule("small spend", "cost_overrun", 0.3),
        _rule("slow", "latency_slo", 800),
        _rule("mismatch", "rollup_mismatch", 0),
        _rule("drift", "routing_drift", None),  # blank: the kind's default
    ]
}
EXPECTED = {
    "blocks": Decimal("0.01"),
    "spend": Decimal("100.00000001"),
    "small spend": Decimal("0.3"),
    "slow": Decimal("800"),
    "mismatch": Decimal("0"),
    "drift": None,
}


def test_thresholds_load_exactly_and_a_second_load_changes_nothing(project):
    first = rules_load(project=project, document=DOCUMENT)
    assert first.rules_created == len(EXPECTED)
    stored = dict(AlertRule.objects.values_list("name", "threshold"))
    assert stored == EXPECTED
    assert all(isinstance(value, Decimal) for value in stored.values() if value is not None)

    again = rules_load(project=project, document=json.loads(json.dumps(DOCUMENT)))
    assert not again.changed
    assert all(rule.history.count() == 1 for rule in AlertRule.objects.all())

    edited = {"alert_rules": [_rule("spend", "cost_overrun", "100.00000002")]}
    assert rules_load(project=project, document=edited).rules_updated == 1
    assert AlertRule.objects.get(name="spend").threshold == Decimal("100.00000002")


@pytest.mark.parametrize(
    ("threshold", "says"),
    [
        ("\u0661\u0660\u0660", "digits 0-9"),  # Arabic-Indic 100: Decimal() would read it
        ("a lot", "digits 0-9"),
        ("NaN", "digits 0-9"),
        ([100], "expected a number or a decimal string"),
        (True, "expected a number or a decimal string"),
        ("0.123456789", "8 decimal places"),  # more than the column keeps: refused, not rounded
        ("1e12", "12 digits before the decimal point"),
    ],
)
def test_a_bad_threshold_is_refused_naming_the_field(project, threshold, says):
    document = {"alert_rules": [_rule("spend", "cost_overrun", threshold)]}
    with pytest.raises(GovernanceError) as refused:
        rules_load(project=project, document=document)
    message = str(refused.value)
    assert message.startswith("alert_rules[0].threshold: ") and "\n" not in message
    assert says in message
    assert not AlertRule.objects.exists()


def test_the_command_reports_a_bad_threshold_in_one_line(project, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"alert_rules": [_rule("spend", "cost_overrun", "12,5")]}))
    with pytest.raises(CommandError, match=r"^alert_rules\[0\]\.threshold: '12,5' is not a number"):
        call_command("load_rules", project.organization.name, project.name, str(path))

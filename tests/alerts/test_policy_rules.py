"""Alert rules scoped to one policy (`policy:NAME`): over-interception measures that policy's
(blocks + modifies) / checks over the rule's window; other kinds refuse the scope, in rule
files, in the model's validation (the admin) and at measurement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.measurements import rule_measurements
from analytics.models import Alert, AlertState
from analytics.rollups.job import rollups_advance
from governance.models import AlertRule
from governance.rules import rules_load
from governance.services import GovernanceError
from tests.conftest import enforcement_event

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now().replace(second=0, microsecond=0)


def _checks(policy: str, count: int, *, intercepted: int, minutes_ago: float) -> list[dict]:
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return [
        enforcement_event(
            timestamp=at,
            layer="verification",
            policy=policy,
            verdict=("block", "modify")[index % 2] if index < intercepted else "allow",
        )
        for index in range(count)
    ]


def _rule(project, scope: str, **fields) -> AlertRule:
    rules_load(
        project=project,
        document={
            "alert_rules": [
                {
                    "name": "output safety over-intercepts",
                    "kind": "over_interception",
                    "scope": scope,
                    "threshold": 0.05,
                    "window_minutes": 10,
                    "min_requests": 20,
                    "recipients": ["ops@example.com"],
                    **fields,
                }
            ]
        },
    )
    return AlertRule.objects.get(project=project)


def test_a_policy_rule_measures_that_policys_checks(post_batch, project):
    # The policy intercepts 12 of its 40 checks; the other policy's 200 clean checks would
    # hide it in any project-wide figure.
    events = _checks("output_safety_v2", 40, intercepted=12, minutes_ago=3)
    events += _checks("grounding_check", 200, intercepted=0, minutes_ago=3)
    events += _checks("output_safety_v2", 30, intercepted=30, minutes_ago=30)  # outside
    assert post_batch(events).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))
    rule = _rule(project, "policy:output_safety_v2")
    assert (rule.scope_kind, rule.scope_name) == ("policy", "output_safety_v2")

    (measurement,) = rule_measurements(rule, NOW)
    assert measurement.scope == "policy:output_safety_v2"
    assert measurement.value == pytest.approx(12 / 40)
    assert measurement.judged and measurement.breached
    assert measurement.details == {"checks": 40}
    assert "output_safety_v2" in measurement.summary

    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(rule=rule)
    assert alert.state == AlertState.FIRING and alert.scope == "policy:output_safety_v2"

    quiet = _rule(project, "policy:grounding_check")
    (calm,) = rule_measurements(quiet, NOW)
    assert calm.value == 0.0 and calm.judged and not calm.breached


def test_a_policy_rule_below_its_minimum_checks_does_not_judge(post_batch, project):
    post_batch(_checks("output_safety_v2", 10, intercepted=10, minutes_ago=3))
    rollups_advance(max_seconds=float("inf"))
    (measurement,) = rule_measurements(_rule(project, "policy:output_safety_v2"), NOW)
    assert not measurement.judged and not measurement.breached
    assert "10 checks" in measurement.summary


@pytest.mark.parametrize("kind", ["error_rate", "latency_slo", "cost_overrun", "routing_drift"])
def test_other_kinds_refuse_a_policy_scope(project, kind):
    with pytest.raises(GovernanceError, match=r"alert_rules\[0\]\.scope: .*over_interception"):
        _rule(project, "policy:output_safety_v2", kind=kind)
    assert not AlertRule.objects.exists()
    rule = AlertRule(project=project, name="x", kind=kind, scope_kind="policy", scope_name="p")
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "scope_kind" in error.value.message_dict


def test_a_policy_scope_needs_a_name_and_is_not_a_budget_scope(project):
    with pytest.raises(GovernanceError, match=r"policy scope needs a name"):
        _rule(project, "policy")
    with pytest.raises(GovernanceError, match=r"budgets\[0\]\.scope: unknown scope"):
        rules_load(
            project=project,
            document={
                "budgets": [
                    {
                        "name": "b",
                        "scope": "policy:output_safety_v2",
                        "period": "month",
                        "amount_usd": "10",
                    }
                ]
            },
        )
    rule = AlertRule(project=project, name="x", kind="over_interception", scope_kind="policy")
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "scope_name" in error.value.message_dict


def test_a_rule_saved_around_the_validation_is_not_measured_as_the_project(project):
    rule = AlertRule.objects.create(
        project=project,
        name="x",
        kind="error_rate",
        scope_kind="policy",
        scope_name="output_safety_v2",
    )
    (measurement,) = rule_measurements(rule, NOW)
    assert not measurement.judged and measurement.value is None
    assert "only for over_interception" in measurement.summary

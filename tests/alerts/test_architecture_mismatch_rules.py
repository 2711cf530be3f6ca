"""Rules of kind `architecture_mismatch`: their condition is a list of advice finding codes
(`findings`), for the whole project only; rule files, the model's validation (the admin) and
the admin's form check the codes, other kinds refuse findings. Until advice is measured (phase
2) such a rule yields no measurement, so it neither fires nor stops the minute's run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.measurements import rule_measurements
from analytics.alerts.wording import crossing_shown
from analytics.models import Alert
from analytics.rollups.job import rollups_advance
from governance.models import ADVICE_FINDINGS, DEFAULT_THRESHOLDS, AlertRule
from governance.rules import rules_load
from governance.services import GovernanceError
from tests.conftest import routing_event
from tests.governance.factories import UserFactory

NOW = timezone.now().replace(second=0, microsecond=0)


def _load(project, **fields) -> AlertRule:
    rule = {"name": "wrong architecture", "kind": "architecture_mismatch", "min_requests": 0}
    rules_load(project=project, document={"alert_rules": [rule | fields]})
    return AlertRule.objects.get(project=project, name=(rule | fields)["name"])


def test_the_finding_codes_are_advices():
    assert ADVICE_FINDINGS[:3] == ("no_profile", "mode_mismatch", "too_few_layers")
    figures = ("error_rate", "violation_rate", "availability", "latency_p95", "migration_time")
    assert set(ADVICE_FINDINGS[3:]) == {
        f"{figure}_{side}_reference" for figure in figures for side in ("above", "below")
    }
    assert len(ADVICE_FINDINGS) == 13


@pytest.mark.django_db
def test_a_rule_loads_its_findings_and_a_second_load_changes_nothing(project):
    findings = ["mode_mismatch", "error_rate_above_reference"]
    rule = _load(project, findings=findings, for_minutes=30)
    assert rule.findings == findings and rule.for_minutes == 30
    assert rule.effective_threshold == DEFAULT_THRESHOLDS["architecture_mismatch"] == 0
    document = {
        "alert_rules": [
            {
                "name": "wrong architecture",
                "kind": "architecture_mismatch",
                "min_requests": 0,
                "findings": findings,
                "for_minutes": 30,
            }
        ]
    }
    assert not rules_load(project=project, document=document).changed
    assert rule.history.count() == 1
    assert _load(project, findings=["too_few_layers"]).findings == ["too_few_layers"]


@pytest.mark.django_db
def test_without_findings_the_rule_keeps_an_empty_list(project):
    assert _load(project).findings == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("findings", "says"),
    [
        (["mode_mismatch", "cost_above_reference"], "Unknown finding 'cost_above_reference'"),
        (["mode_mismatch", "mode_mismatch"], "listed twice"),
        ("mode_mismatch", "A list of finding codes"),
        ([1], "A list of finding codes"),
    ],
)
def test_bad_findings_are_refused_naming_the_field(project, findings, says):
    with pytest.raises(GovernanceError) as refused:
        _load(project, findings=findings)
    assert str(refused.value).startswith("alert_rules[0].findings: ")
    assert says in str(refused.value)
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["error_rate", "over_interception", "rollup_mismatch"])
def test_other_kinds_refuse_findings(project, kind):
    with pytest.raises(GovernanceError, match=r"^alert_rules\[0\]\.findings: Only an archit"):
        _load(project, kind=kind, findings=["mode_mismatch"])
    rule = AlertRule(project=project, name="x", kind=kind, findings=["mode_mismatch"])
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert list(error.value.message_dict) == ["findings"]


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["service:router", "model:gpt-5.4", "policy:pii"])
def test_the_rule_is_for_the_whole_project_only(project, scope):
    with pytest.raises(GovernanceError, match=r"^alert_rules\[0\]\.scope: .*whole project"):
        _load(project, scope=scope)
    kind, name = scope.split(":")
    rule = AlertRule(
        project=project, name="x", kind="architecture_mismatch", scope_kind=kind, scope_name=name
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert list(error.value.message_dict) == ["scope_kind"]


def test_a_finding_count_reads_as_findings_in_mail():
    shown = crossing_shown("architecture_mismatch", 2.0, 0)
    assert (shown["value_shown"], shown["threshold_shown"]) == ("2 findings", "0 findings")


@pytest.mark.django_db
def test_the_admin_ticks_findings_from_the_codes(client, project):
    admin = UserFactory.create(organization=project.organization, username="ada", role="admin")
    client.force_login(admin)
    page = client.get("/admin/governance/alertrule/add/").content.decode()
    for code in ADVICE_FINDINGS:
        assert f'type="checkbox" name="findings" value="{code}"' in page
    form = {
        "project": project.pk,
        "name": "wrong architecture",
        "kind": "architecture_mismatch",
        "scope_kind": "project",
        "window_minutes": 15,
        "for_minutes": 60,
        "min_requests": 0,
        "severity": "warning",
        "repeat_minutes": 240,
        "recipients": "[]",
        "findings": ["mode_mismatch", "too_few_layers"],
        "is_active": "on",
    }
    response = client.post("/admin/governance/alertrule/add/", form)
    assert response.status_code == 302, response.context and response.context["errors"]
    rule = AlertRule.objects.get(name="wrong architecture")
    assert rule.findings == ["mode_mismatch", "too_few_layers"]

    refused = client.post(
        "/admin/governance/alertrule/add/", form | {"name": "slow", "kind": "latency_slo"}
    )
    assert refused.status_code == 200
    assert "Only an architecture_mismatch rule names findings" in refused.content.decode()
    assert not AlertRule.objects.filter(name="slow").exists()


@pytest.mark.django_db(transaction=True)
def test_until_advice_is_measured_the_rule_neither_fires_nor_stops_the_run(post_batch, project):
    """Falling through to the spend measurement, any spend above the default threshold of 0
    would fire it."""
    at = (NOW - timedelta(minutes=2)).isoformat()
    assert post_batch([routing_event(timestamp=at) for _ in range(5)]).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))
    rule = _load(project, findings=["mode_mismatch"])
    spend = _load(project, name="spend", kind="cost_overrun", threshold="0", findings=None)
    assert [m.breached for m in rule_measurements(spend, NOW)] == [True]  # there is spend

    assert list(rule_measurements(rule, NOW)) == []
    alerts_evaluate(now=NOW)
    assert not Alert.objects.filter(rule=rule).exists()
    assert Alert.objects.filter(rule=spend).exists()  # the run went on past it

"""Rules of kind `architecture_mismatch`: their condition is a list of advice finding codes
(`findings`), for the whole project only; rule files, the model's validation (the admin) and
the admin's form check the codes, other kinds refuse findings. Through the real evaluation, the
rule counts the findings of the project's advice it names, fires after its `for` duration with
the findings' messages in the alert and its mail, waits for `min_requests`, and resolves when
the traffic runs as the profile asks again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.measurements import rule_measurements
from analytics.alerts.wording import crossing_shown
from analytics.models import Alert, AlertState, Notification
from analytics.rollups.job import rollups_advance
from governance.models import ADVICE_FINDINGS, DEFAULT_THRESHOLDS, AlertRule, ProjectProfile
from governance.rules import rules_load
from governance.services import GovernanceError
from tests.conftest import enforcement_event, routing_event
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


def _traffic(mode: str, count: int, minutes_ago: float, layers: tuple[str, ...]) -> list[dict]:
    events = []
    for index in range(count):
        request_id = f"{mode}-{minutes_ago}-{index}"
        at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
        events.append(routing_event(request_id=request_id, mode=mode, timestamp=at))
        events += [
            enforcement_event(request_id=request_id, layer=layer, timestamp=at) for layer in layers
        ]
    return events


def _post(post_batch, events: list[dict]) -> None:
    assert post_batch(events).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))


@pytest.mark.django_db(transaction=True)
def test_the_rule_fires_on_its_findings_for_its_duration_and_resolves(post_batch, project):
    ProjectProfile.objects.create(project=project, traffic_pattern="fixed")  # routing_first
    rule = _load(
        project,
        findings=["mode_mismatch", "too_few_layers"],
        window_minutes=10,
        for_minutes=5,
        min_requests=5,
        recipients=["ops@example.com"],
    )
    start = NOW - timedelta(minutes=50)  # evaluated in the past: ingest refuses the future
    _post(post_batch, _traffic("hybrid", 8, minutes_ago=52, layers=("preprocess",)))
    alerts_evaluate(now=start)
    alert = Alert.objects.get(rule=rule)
    assert alert.state == AlertState.PENDING  # held for the rule's 5 minutes
    assert alert.value == 1.0  # mode_mismatch; 1 layer is enough for 1-3
    message = (
        "your profile calls for routing-first and you run hybrid (100.0% of the window's requests)"
    )
    assert alert.summary == message
    assert alert.details["findings"] == [{"code": "mode_mismatch", "message": message}]
    assert (alert.details["recommended_mode"], alert.details["measured_mode"]) == (
        "routing_first",
        "hybrid",
    )
    alerts_evaluate(now=start + timedelta(minutes=5))
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING
    (mail,) = Notification.objects.filter(alert=alert)
    assert f"  - {message} (mode_mismatch)" in mail.body_text
    assert "1 findings against a threshold of 0 findings" in mail.body_text

    # The traffic runs routing_first again: the finding no longer holds.
    _post(post_batch, _traffic("routing_first", 20, minutes_ago=30, layers=("preprocess",)))
    alerts_evaluate(now=NOW - timedelta(minutes=25))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert alert.value == 0.0 and alert.details["findings"] == []
    assert alert.summary == "the traffic matches the profile's advice over the last 10 min"
    resolved = Notification.objects.filter(alert=alert).latest("pk")
    assert "RESOLVED" in resolved.subject and "Findings:" not in resolved.body_text


@pytest.mark.django_db(transaction=True)
def test_findings_the_rule_does_not_name_and_too_few_requests_do_not_fire(post_batch, project):
    """Without a profile, only no_profile and the figures hold: a rule naming no findings
    counts every finding but no_profile; a rule naming no_profile counts it, from its
    `min_requests` on."""
    _post(post_batch, _traffic("hybrid", 6, minutes_ago=3, layers=()))
    quiet = _load(project, name="layers", findings=["mode_mismatch", "too_few_layers"])
    anything = _load(project, name="anything", min_requests=5)
    unprofiled = _load(project, name="unprofiled", findings=["no_profile"], min_requests=5)
    busy = _load(project, name="busy", findings=["no_profile"], min_requests=7)
    (seen,) = rule_measurements(quiet, NOW)
    assert (seen.value, seen.breached, seen.judged) == (0.0, False, True)
    (seen,) = rule_measurements(anything, NOW)
    codes = [finding["code"] for finding in seen.details["findings"]]
    # 140 ms attempts without errors or violations: below hybrid's reference figures, and
    # every request served: above its 99.95% availability.
    assert codes == [
        "error_rate_below_reference",
        "violation_rate_below_reference",
        "availability_above_reference",
        "latency_p95_below_reference",
    ]
    assert seen.value == 4.0 and seen.breached
    (seen,) = rule_measurements(unprofiled, NOW)
    assert (seen.value, seen.breached) == (1.0, True)
    assert seen.summary.startswith("no profile: answer the five questions")
    (seen,) = rule_measurements(busy, NOW)
    assert (seen.judged, seen.breached) == (False, False)
    assert seen.summary == "6 requests over the last 15 min: below 7"
    alerts_evaluate(now=NOW)
    assert set(Alert.objects.values_list("rule__name", "state")) == {
        ("unprofiled", AlertState.FIRING),
        ("anything", AlertState.FIRING),
    }


@pytest.mark.django_db(transaction=True)
def test_a_threshold_counts_findings(post_batch, project):
    ProjectProfile.objects.create(project=project, precision="high")  # enforcement_first, 5-7
    _post(post_batch, _traffic("hybrid", 6, minutes_ago=3, layers=("preprocess",)))
    both = ["mode_mismatch", "too_few_layers"]
    one = _load(project, name="one", findings=both, threshold="1")
    two = _load(project, name="two", findings=both, threshold="2")
    assert [(m.value, m.breached) for m in rule_measurements(one, NOW)] == [(2.0, True)]
    assert [(m.value, m.breached) for m in rule_measurements(two, NOW)] == [(2.0, False)]

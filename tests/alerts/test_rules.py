"""Each rule kind fires on traffic that crosses it, stays silent on traffic that does not,
resolves when the traffic recovers; `for` duration and repeat interval are respected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.wording import crossing_shown
from analytics.models import Alert, AlertEvaluation, AlertState, Notification
from analytics.rollups.job import rollups_advance
from governance.models import AlertRule
from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now().replace(second=0, microsecond=0)


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def _rule(project, **fields) -> AlertRule:
    defaults = {
        "name": fields.get("kind", "rule"),
        "window_minutes": 10,
        "for_minutes": 0,
        "min_requests": 10,
        "repeat_minutes": 60,
        "recipients": ["ops@example.com"],
    }
    return AlertRule.objects.create(project=project, **{**defaults, **fields})


def _post(post_batch, events) -> None:
    for start in range(0, len(events), 500):
        assert post_batch(events[start : start + 500]).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))


def _requests(count, *, minutes_ago=3, blocked=0, failed=0, model="gpt-5.4", latency=140.0):
    events = []
    for index in range(count):
        request_id = f"r-{minutes_ago}-{model}-{index}-{latency}"
        events.append(
            routing_event(
                request_id=request_id,
                timestamp=_at(minutes_ago),
                model=model,
                latency_ms=latency,
                status="error" if index < failed else "ok",
            )
        )
        events.append(
            enforcement_event(
                request_id=request_id,
                timestamp=_at(minutes_ago),
                verdict="block" if index < blocked else "allow",
            )
        )
    return events


def _state(rule, scope="project") -> str | None:
    alert = Alert.objects.filter(rule=rule, scope=scope).first()
    return alert.state if alert else None


@pytest.mark.parametrize(
    ("kind", "threshold", "bad", "good"),
    [
        ("over_interception", None, {"blocked": 5}, {"blocked": 0}),
        ("error_rate", 0.1, {"failed": 10}, {"failed": 0}),
        ("latency_slo", 500.0, {"latency": 900.0}, {"latency": 120.0}),
        ("cost_overrun", 0.05, {}, None),  # 20 requests cost about $0.20
    ],
)
def test_rule_fires_on_crossing_traffic_and_resolves_on_recovery(
    post_batch, project, kind, threshold, bad, good
):
    rule = _rule(project, kind=kind, threshold=threshold, min_requests=5)
    start = NOW - timedelta(minutes=40)  # evaluated in the past: ingest refuses the future
    alerts_evaluate(now=start)
    assert _state(rule) is None  # no traffic raises nothing

    _post(post_batch, _requests(20, minutes_ago=33, **bad))
    run = alerts_evaluate(now=start + timedelta(minutes=10))
    assert _state(rule) == AlertState.FIRING, run.transitions
    alert = Alert.objects.get(rule=rule)
    assert alert.value is not None and alert.threshold is not None
    assert alert.value > alert.threshold
    assert Notification.objects.filter(alert=alert).count() == 1

    alerts_evaluate(now=start + timedelta(minutes=11))  # still breached: never raised twice
    assert Notification.objects.filter(alert=alert).count() == 1

    if good is not None:
        _post(post_batch, _requests(400, minutes_ago=12, **good))  # a healthy later window
    later = NOW - timedelta(minutes=5)
    alerts_evaluate(now=later)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert alert.resolved_at == later
    subjects = list(
        Notification.objects.filter(alert=alert).order_by("pk").values_list("subject", flat=True)
    )
    assert len(subjects) == 2 and "RESOLVED" in subjects[1]


def test_quiet_traffic_never_raises(post_batch, project):
    rules = [
        _rule(project, kind="over_interception", name="i", min_requests=5),
        _rule(project, kind="error_rate", name="e", min_requests=5),
        _rule(project, kind="latency_slo", name="l", min_requests=5),
        _rule(project, kind="model_failure", name="m", min_requests=5),
    ]
    _post(post_batch, _requests(50, minutes_ago=2))
    alerts_evaluate(now=NOW)
    assert not Alert.objects.filter(rule__in=rules).exists()
    assert AlertEvaluation.objects.count() >= 3  # the judgements are kept all the same


def test_below_min_requests_the_rule_does_not_judge(post_batch, project):
    rule = _rule(project, kind="error_rate", threshold=0.1, min_requests=50)
    _post(post_batch, _requests(20, minutes_ago=3, failed=20))
    alerts_evaluate(now=NOW)
    assert _state(rule) is None


def test_for_duration_holds_the_alert_pending_first(post_batch, project):
    rule = _rule(project, kind="over_interception", for_minutes=5, min_requests=5)
    _post(post_batch, _requests(20, minutes_ago=2, blocked=10))
    alerts_evaluate(now=NOW)
    assert _state(rule) == AlertState.PENDING
    assert not Notification.objects.exists()
    alerts_evaluate(now=NOW + timedelta(minutes=4))
    assert _state(rule) == AlertState.PENDING
    alerts_evaluate(now=NOW + timedelta(minutes=5))
    assert _state(rule) == AlertState.FIRING
    assert Notification.objects.count() == 1


def test_repeat_interval_renotifies_and_acknowledgement_stops_it(post_batch, project):
    rule = _rule(project, kind="over_interception", repeat_minutes=3, window_minutes=30)
    _post(post_batch, _requests(20, minutes_ago=2, blocked=10))
    alerts_evaluate(now=NOW)
    alerts_evaluate(now=NOW + timedelta(minutes=2))
    assert Notification.objects.count() == 1  # within the repeat interval
    alerts_evaluate(now=NOW + timedelta(minutes=3))
    assert Notification.objects.count() == 2
    assert "STILL FIRING" in Notification.objects.latest("pk").subject

    Alert.objects.filter(rule=rule).update(acknowledged_at=NOW)
    alerts_evaluate(now=NOW + timedelta(minutes=9))
    assert Notification.objects.count() == 2


def test_silenced_alert_changes_state_but_sends_nothing(post_batch, project):
    rule = _rule(project, kind="over_interception", min_requests=5)
    _post(post_batch, _requests(20, minutes_ago=33, blocked=10))
    alerts_evaluate(now=NOW - timedelta(minutes=30))
    Alert.objects.filter(rule=rule).update(silenced_until=NOW + timedelta(hours=1))
    _post(post_batch, _requests(100, minutes_ago=12))
    alerts_evaluate(now=NOW - timedelta(minutes=5))
    assert _state(rule) == AlertState.RESOLVED
    assert Notification.objects.count() == 1  # only the first firing


def test_model_failure_is_one_alert_per_model_and_records_migration_time(post_batch, project):
    rule = _rule(project, kind="model_failure", threshold=0.5, min_requests=5, window_minutes=10)
    failing = [
        routing_event(
            request_id=f"f-{i}", timestamp=_at(4), model="claude-opus-4.6", status="error"
        )
        for i in range(10)
    ]
    fallbacks = [
        routing_event(
            request_id=f"f-{i}", timestamp=_at(2), model="gpt-5.4", fallback_from="claude-opus-4.6"
        )
        for i in range(10)
    ]
    _post(post_batch, failing + fallbacks)
    alerts_evaluate(now=NOW)
    assert _state(rule, "model:claude-opus-4.6") == AlertState.FIRING
    assert _state(rule, "model:gpt-5.4") is None

    alerts_evaluate(now=NOW + timedelta(minutes=15))  # the model's traffic has stopped
    alert = Alert.objects.get(rule=rule, scope="model:claude-opus-4.6")
    assert alert.state == AlertState.RESOLVED
    assert alert.details["migration_seconds"] == pytest.approx(120, abs=60)


def test_firing_model_failure_shows_its_first_failure_and_migration_once_migrated(
    post_batch, project
):
    """DESIGN.md's migration time does not wait for the model to recover: a firing incident
    whose traffic fallbacks already serve shows it, and one not migrated shows its first failure."""
    rule = _rule(project, kind="model_failure", threshold=0.5, min_requests=5, window_minutes=10)
    failing = [
        routing_event(request_id=f"m-{i}", timestamp=_at(5), model="gpt-5.4", status="error")
        for i in range(10)
    ]
    _post(post_batch, failing)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(rule=rule, scope="model:gpt-5.4")
    assert alert.state == AlertState.FIRING
    assert alert.details["first_failure_at"] == _at(5)
    assert alert.details["migration_seconds"] is None

    fallbacks = [
        routing_event(
            request_id=f"m-{i}", timestamp=_at(3), model="claude-opus-4.6", fallback_from="gpt-5.4"
        )
        for i in range(10)
    ]
    _post(post_batch, fallbacks)
    alerts_evaluate(now=NOW + timedelta(minutes=1))
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING  # the model still fails within the window
    assert alert.details["migration_seconds"] == pytest.approx(120, abs=60)


def test_routing_drift_fires_on_a_shifted_mix(post_batch, project):
    project.expected_shares = {"gpt-5.4": 0.8, "claude-opus-4.6": 0.2}
    project.save()
    rule = _rule(project, kind="routing_drift", min_requests=10, conformance_min=0.0)
    _post(post_batch, _requests(40, minutes_ago=2, model="claude-opus-4.6"))
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(rule=rule)
    assert alert.state == AlertState.FIRING
    assert alert.value is not None and alert.value > 0.25


def test_alert_email_says_what_crossed_which_line_by_how_much_since_when(post_batch, project):
    rule = _rule(project, kind="over_interception", severity="critical")
    _post(post_batch, _requests(40, blocked=4))
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(rule=rule)
    mail = Notification.objects.get(alert=alert)
    assert mail.subject.startswith("[Tollgate CRITICAL] FIRING: over_interception")
    for body in (mail.body_text, mail.body_html):
        assert "interception rate 10.00% over the last 10 min (threshold 1.00%)" in body
        assert "10.00%" in body and "1.00%" in body
        assert "+9.00 points, 10.0x the threshold" in body
        assert f"{alert.firing_since:%Y-%m-%d %H:%M} UTC" in body
        assert f"/dashboard/alerts/{alert.pk}/" in body
    assert "Value:      10.00% against a threshold of 1.00%" in mail.body_text


@pytest.mark.parametrize(
    ("kind", "value", "threshold", "expected"),
    [
        ("error_rate", 0.25, 0.1, ("25.00%", "10.00%", "+15.00 points, 2.5x the threshold")),
        ("latency_slo", 900.0, 500.0, ("900.0 ms", "500.0 ms", "+400.0 ms, 1.8x the threshold")),
        ("cost_overrun", 12.5, 10.0, ("$12.50", "$10.00", "+$2.50, 1.2x the threshold")),
        ("routing_drift", 0.4, 0.25, ("0.400", "0.250", "+0.150, 1.6x the threshold")),
        ("model_failure", None, 0.5, ("n/a", "n/a", "")),
    ],
)
def test_alert_figures_are_shown_with_their_units(kind, value, threshold, expected):
    shown = crossing_shown(kind, value, threshold)
    assert (shown["value_shown"], shown["threshold_shown"], shown["excess_shown"]) == expected

"""The alerts page: firing, pending, resolved and history of the caller's organization;
acknowledge and silence for ops and admin through CSRF-checked forms, never for finance."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import Alert, AlertEvaluation, AlertState
from tests.dashboard.conftest import headline
from tests.governance.factories import AlertRuleFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def make_alert(project, name: str, state: str = AlertState.FIRING, **fields) -> Alert:
    rule = AlertRuleFactory.create(
        project=project, name=name, kind=fields.pop("kind", "error_rate")
    )
    now = timezone.now()
    alert = Alert.objects.create(
        rule=rule,
        project=project,
        organization=project.organization,
        kind=rule.kind,
        scope=fields.pop("scope", "project"),
        severity="warning",
        state=state,
        value=0.12,
        threshold=0.05,
        summary=f"{name} summary",
        pending_since=now - timedelta(minutes=5),
        firing_since=now - timedelta(minutes=3) if state != AlertState.PENDING else None,
        resolved_at=now - timedelta(minutes=1) if state == AlertState.RESOLVED else None,
        updated_at=now,
        **fields,
    )
    AlertEvaluation.objects.create(
        rule=rule,
        scope=alert.scope,
        alert=alert,
        evaluated_at=now - timedelta(minutes=3),
        value=0.12,
        breached=True,
        state_before=AlertState.PENDING,
        state_after=AlertState.FIRING,
        note=f"{name} went off",
    )
    return alert


@pytest.fixture
def alerts(project):
    rival = ProjectFactory.create()  # another organization's
    return {
        "firing": make_alert(project, "errors"),
        "pending": make_alert(project, "slow", AlertState.PENDING, kind="latency_slo"),
        "resolved": make_alert(project, "old", AlertState.RESOLVED),
        "foreign": make_alert(rival, "rival-secret"),
    }


def csrf_token(client: Client, url: str = "/dashboard/alerts/") -> str:
    page = client.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, url
    return token.group(1)


def alert_ids(page: str) -> set[int]:
    return {int(found) for found in re.findall(r'data-alert-id="(\d+)"', page)}


def test_ops_sees_every_state_and_the_actions(member, alerts):
    response = member("ops").get("/dashboard/alerts/")
    page = response.content.decode()
    assert response.status_code == 200
    figures = headline(page)
    assert figures["firing_alerts"]["data-value"] == "1"
    assert figures["pending_alerts"]["data-value"] == "1"
    assert figures["resolved_alerts"]["data-value"] == "1"
    own = {alerts[name].pk for name in ("firing", "pending", "resolved")}
    assert alert_ids(page) == own  # and never the other organization's
    assert "rival-secret" not in page
    assert ">Acknowledge</button>" in page and ">Silence</button>" in page
    assert "errors went off" in page  # the history
    assert "12.0%" in page and "5.00%" in page  # value and threshold in the kind's unit


def test_finance_sees_no_buttons_and_cannot_act(member, alerts):
    finance = member("finance")
    page = finance.get("/dashboard/alerts/").content.decode()
    assert alerts["firing"].pk in alert_ids(page)
    assert ">Acknowledge</button>" not in page and ">Silence</button>" not in page
    alert = alerts["firing"]
    assert finance.post(f"/dashboard/alerts/{alert.pk}/acknowledge").status_code == 403
    assert (
        finance.post(f"/dashboard/alerts/{alert.pk}/silence", {"duration": "4h"}).status_code == 403
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and alert.silenced_until is None


def test_ops_acknowledges_and_silences_through_the_forms(member, alerts):
    ops = member("ops", csrf=True)
    alert = alerts["firing"]
    back = "/dashboard/alerts/?range=7d&project=support"
    token = csrf_token(ops, back)
    response = ops.post(
        f"/dashboard/alerts/{alert.pk}/acknowledge",
        {"csrfmiddlewaretoken": token, "next": back},
    )
    assert response.status_code == 302 and response["Location"] == back
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by.get_username() == "ops"

    before = timezone.now()
    ops.post(
        f"/dashboard/alerts/{alert.pk}/silence",
        {"csrfmiddlewaretoken": token, "duration": "4h"},
    )
    alert.refresh_from_db()
    assert before + timedelta(hours=4) <= alert.silenced_until
    assert alert.silenced_until <= timezone.now() + timedelta(hours=4)
    page = ops.get(back).content.decode()
    assert f"Alert #{alert.pk} silenced." in page
    assert 'data-acknowledged="yes"' in page


def test_the_forms_need_the_csrf_token(member, alerts):
    ops = member("ops", csrf=True)
    alert = alerts["firing"]
    assert ops.post(f"/dashboard/alerts/{alert.pk}/acknowledge").status_code == 403
    assert ops.post(f"/dashboard/alerts/{alert.pk}/silence", {"duration": "1h"}).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and alert.silenced_until is None


def test_refused_actions_say_why_and_change_nothing(member, alerts):
    admin = member("admin")
    resolved = alerts["resolved"]
    admin.post(f"/dashboard/alerts/{resolved.pk}/acknowledge")
    resolved.refresh_from_db()
    assert resolved.acknowledged_at is None
    firing = alerts["firing"]
    response = admin.post(
        f"/dashboard/alerts/{firing.pk}/silence", {"duration": "forever"}, follow=True
    )
    assert "was not changed: choose a silence of" in response.content.decode()
    firing.refresh_from_db()
    assert firing.silenced_until is None


def test_another_organizations_alert_is_not_found(member, alerts):
    ops = member("ops")
    foreign = alerts["foreign"]
    assert ops.post(f"/dashboard/alerts/{foreign.pk}/acknowledge").status_code == 404
    assert (
        ops.post(f"/dashboard/alerts/{foreign.pk}/silence", {"duration": "1h"}).status_code == 404
    )
    foreign.refresh_from_db()
    assert foreign.acknowledged_at is None and foreign.silenced_until is None


def test_redirects_stay_on_this_site(member, alerts):
    response = member("ops").post(
        f"/dashboard/alerts/{alerts['firing'].pk}/acknowledge",
        {"next": "https://evil.example/phish"},
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/alerts/"


def test_an_emailed_link_highlights_its_alert(member, alerts):
    alert = alerts["pending"]
    page = member("finance").get(f"/dashboard/alerts/?alert={alert.pk}").content.decode()
    row = re.search(rf'<tr data-alert-id="{alert.pk}"[^>]*>', page)
    assert row is not None and 'class="highlight"' in row.group(0)


def test_the_project_filter_applies_to_alerts(member, alerts, organization):
    other = ProjectFactory.create(organization=organization, name="search")
    mine = make_alert(other, "search-errors")
    page = member("ops").get("/dashboard/alerts/?project=search").content.decode()
    assert alert_ids(page) == {mine.pk}


def test_the_overview_counts_firing_alerts_like_the_api(member, alerts):
    client = member("ops")
    figures = headline(client.get("/dashboard/").content.decode())
    api = client.get("/api/v1/alerts", {"state": "firing"}).json()["rows"]
    assert figures["firing_alerts"]["data-value"] == str(len(api)) == "1"


def test_migration_times_of_model_failures_show_on_reliability(member, project):
    alert = make_alert(
        project,
        "model down",
        kind="model_failure",
        scope="model:gpt-5.4",
        details={"migration_seconds": 95.0, "first_failure_at": timezone.now().isoformat()},
    )
    page = member("ops").get("/dashboard/reliability/?range=1h").content.decode()
    row = re.search(rf'<tr data-alert-id="{alert.pk}" data-model="gpt-5.4">.*?</tr>', page, re.S)
    assert row, "the incident is listed"
    assert 'data-metric="migration_seconds" data-value="95.0"' in row.group(0)
    assert "1 min 35 s" in row.group(0)


@pytest.mark.parametrize(
    ("state", "label"),
    [(AlertState.FIRING, "not migrated yet"), (AlertState.RESOLVED, "did not migrate")],
)
def test_an_unmigrated_incident_says_so_only_while_open(member, project, state, label):
    failed_at = timezone.now() - timedelta(minutes=4)
    alert = make_alert(
        project,
        "model down",
        state=state,
        kind="model_failure",
        scope="model:gpt-5.4",
        details={"migration_seconds": None, "first_failure_at": failed_at.isoformat()},
    )
    page = member("ops").get("/dashboard/reliability/?range=1h").content.decode()
    row = re.search(rf'<tr data-alert-id="{alert.pk}" data-model="gpt-5.4">.*?</tr>', page, re.S)
    assert row, "the incident is listed"
    assert label in row.group(0)
    assert failed_at.strftime("%Y-%m-%d %H:%M UTC") in row.group(0)  # the first failure shows

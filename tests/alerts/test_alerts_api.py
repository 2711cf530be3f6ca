"""The alerts API: listing with filters and tenant isolation; acknowledge and silence for
signed-in ops and admin members only, with CSRF; bad input named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import Alert, AlertState
from tests.governance.factories import (
    AlertRuleFactory,
    ApiKeyFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
CSRF_SECRET = "Tollgate0csrf0secret0for0tests00"  # 32 letters and digits, as Django makes


def _alert(project, name: str, state: str = AlertState.FIRING) -> Alert:
    rule = AlertRuleFactory.create(project=project, name=name)
    now = timezone.now()
    return Alert.objects.create(
        rule=rule,
        project=project,
        organization=project.organization,
        kind=rule.kind,
        scope="project",
        severity="warning",
        state=state,
        summary=f"{name} summary",
        firing_since=now,
        pending_since=now,
        updated_at=now,
    )


@pytest.fixture
def alerts(project):
    other = ProjectFactory.create()  # another organization's
    return {
        "firing": _alert(project, "errors"),
        "resolved": _alert(project, "old", AlertState.RESOLVED),
        "foreign": _alert(other, "secret-rule"),
    }


def _member(project, role: str) -> APIClient:
    user = UserFactory.create(organization=project.organization, username=role, role=role)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_list_is_scoped_to_the_organization_and_filters(project, alerts):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory.create(project=project, scope='read').raw_key}"
    )
    names = {row["name"] for row in client.get("/api/v1/alerts").json()["rows"]}
    assert names == {"errors", "old"}
    firing = client.get("/api/v1/alerts", {"state": "firing"}).json()["rows"]
    assert [row["name"] for row in firing] == ["errors"]
    bad = client.get("/api/v1/alerts", {"state": "burning"})
    assert bad.status_code == 400 and bad.json()["field"] == "state"


def test_project_filter_is_checked_like_the_metrics_api(project, alerts):
    """`?project=` names a project the caller can see, or is a 400 naming `project` (it was
    passed to the query as it came: a NUL was a DataError, a 500, and another organization's
    project an empty list instead of the metrics API's 400)."""
    search = ProjectFactory.create(organization=project.organization, name="search")
    _alert(search, "search-errors")
    member = _member(project, "finance")
    rows = member.get("/api/v1/alerts", {"project": "search"}).json()["rows"]
    assert [row["name"] for row in rows] == ["search-errors"]
    for name in ("secret", "no-such-project", "x" * 201):  # another tenant's, unknown, too long
        response = member.get("/api/v1/alerts", {"project": name})
        assert response.status_code == 400, name
        assert response.json()["field"] == "project"
        metrics = member.get("/api/v1/metrics/summary", {"project": name}).json()
        assert response.json()["detail"] == metrics["detail"]  # the very same words
    key = APIClient()
    key.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory.create(project=project, scope='read').raw_key}"
    )
    # A read key sees its own project only: another project of its organization is not there.
    assert key.get("/api/v1/alerts", {"project": "search"}).status_code == 400
    own = key.get("/api/v1/alerts", {"project": "support"}).json()["rows"]
    assert {row["name"] for row in own} == {"errors", "old"}


def test_ops_acknowledges_and_silences(project, alerts):
    client = _member(project, "ops")
    alert = alerts["firing"]
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 403  # no CSRF
    client.cookies["csrftoken"] = CSRF_SECRET
    headers: dict[str, Any] = {"HTTP_X_CSRFTOKEN": CSRF_SECRET}

    answer = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge", **headers)
    assert answer.status_code == 200, answer.content
    assert answer.json()["acknowledged_by"] == "ops"
    until = timezone.now() + timedelta(hours=2)
    silenced = client.post(
        f"/api/v1/alerts/{alert.pk}/silence", {"until": until.isoformat()}, format="json", **headers
    )
    assert silenced.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.silenced_until == until


def test_bad_silence_and_resolved_acknowledge_are_named(project, alerts):
    client = APIClient()
    client.force_login(UserFactory.create(organization=project.organization, role="admin"))
    past = client.post(
        f"/api/v1/alerts/{alerts['firing'].pk}/silence",
        {"until": (timezone.now() - timedelta(minutes=1)).isoformat()},
        format="json",
    )
    assert past.status_code == 400 and past.json()["field"] == "until"
    missing = client.post(f"/api/v1/alerts/{alerts['firing'].pk}/silence", {}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "until"
    resolved = client.post(f"/api/v1/alerts/{alerts['resolved'].pk}/acknowledge")
    assert resolved.status_code == 400 and resolved.json()["field"] == "state"


def test_finance_keys_and_other_organizations_cannot_act(project, alerts):
    finance = APIClient()
    finance.force_login(UserFactory.create(organization=project.organization, role="finance"))
    assert finance.post(f"/api/v1/alerts/{alerts['firing'].pk}/acknowledge").status_code == 403
    keyed = APIClient()
    keyed.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory.create(project=project, scope='read').raw_key}"
    )
    refused = keyed.post(f"/api/v1/alerts/{alerts['firing'].pk}/acknowledge")
    assert refused.status_code == 403
    ops = APIClient()
    ops.force_login(UserFactory.create(organization=project.organization, role="ops"))
    assert ops.post(f"/api/v1/alerts/{alerts['foreign'].pk}/acknowledge").status_code == 404
    for hostile in ("²", "1" * 19, "-1"):  # digits int() refuses, past bigint, not digits
        assert ops.post(f"/api/v1/alerts/{hostile}/acknowledge").status_code == 404
    alerts["foreign"].refresh_from_db()
    assert alerts["foreign"].acknowledged_at is None


@pytest.mark.parametrize("scope", ["read", "ingest"])
@pytest.mark.parametrize("action", ["acknowledge", "silence"])
def test_a_key_is_told_that_alert_actions_need_a_session(project, alerts, scope, action):
    keyed = APIClient()
    keyed.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory.create(project=project, scope=scope).raw_key}"
    )
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    answer = keyed.post(
        f"/api/v1/alerts/{alerts['firing'].pk}/{action}", {"until": until}, format="json"
    )
    assert answer.status_code == 403
    assert answer.json() == {
        "detail": "Alert actions need a signed-in member of the organization (session and "
        "CSRF token); API keys cannot acknowledge or silence alerts.",
        "code": "session_required",
    }
    alerts["firing"].refresh_from_db()
    assert alerts["firing"].acknowledged_at is None and alerts["firing"].silenced_until is None


def test_anonymous_callers_are_answered_as_before(project, alerts):
    answer = APIClient().post(f"/api/v1/alerts/{alerts['firing'].pk}/acknowledge")
    assert answer.status_code == 403
    assert answer.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Bearer tg_not_a_key")
    assert unknown.post(f"/api/v1/alerts/{alerts['firing'].pk}/acknowledge").json()["code"] == (
        "authentication_failed"
    )


def test_acknowledging_from_code_as_the_readme_does(project, alerts):
    """The README's curl sequence: the sign-in page's CSRF cookie, the sign-in form, then the
    action with the (rotated) token in X-CSRFToken."""
    user = UserFactory.create(organization=project.organization, username="olivia", role="ops")
    user.set_password("a-long-ops-password-1")
    user.save()
    client = APIClient(enforce_csrf_checks=True)
    assert client.get("/accounts/login/").status_code == 200
    token = client.cookies["csrftoken"].value
    signed_in = client.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": "olivia", "password": "a-long-ops-password-1"},
    )
    assert signed_in.status_code == 302
    rotated = client.cookies["csrftoken"].value  # signing in gives a new token
    assert rotated != token
    firing = client.get("/api/v1/alerts", {"state": "firing"}).json()["rows"]
    assert [row["id"] for row in firing] == [alerts["firing"].pk]
    answer = client.post(
        f"/api/v1/alerts/{alerts['firing'].pk}/acknowledge", HTTP_X_CSRFTOKEN=rotated
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["acknowledged_by"] == "olivia"

"""The request page (/dashboard/requests/<request_id>/): its attempts and checks in one timeline,
the late check marked; the header's search box; 404 for another organization."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from tests.analytics.test_request_api import REQUEST_ID, fallback_request
from tests.conftest import routing_event
from tests.dashboard.conftest import page_metrics
from tests.governance.factories import ApiKeyFactory, ProjectFactory, ServiceFactory, UserFactory

PAGE = f"/dashboard/requests/{REQUEST_ID}/"


@pytest.fixture
def sent(post_batch) -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    first, late = fallback_request(at)
    assert post_batch(first).json()["accepted"] == 3
    assert post_batch(late).json()["accepted"] == 1
    return {"first": first, "late": late}


def timeline_rows(html: str) -> list[dict[str, str]]:
    """Each timeline row's data attributes, in page order."""
    rows = []
    for match in re.finditer(r'<tr class="step [^"]*"([^>]*)>', html):
        rows.append(dict(re.findall(r'(data-[\w-]+)="([^"]*)"', match.group(1))))
    return rows


@pytest.mark.django_db
class TestRequestPage:
    def test_attempts_and_checks_in_one_timeline(self, sent, member):
        response = member("finance").get(PAGE)
        assert response.status_code == 200
        html = response.content.decode()
        first, late = sent["first"], sent["late"]
        rows = timeline_rows(html)
        assert [row["data-event-id"] for row in rows] == [
            first[2]["event_id"],  # the preprocess check
            first[1]["event_id"],  # the failed gpt-5.4 attempt
            first[0]["event_id"],  # the claude fallback
            late[0]["event_id"],  # the late output check
        ]
        assert [row["data-kind"] for row in rows] == ["check", "attempt", "attempt", "check"]

    # Committed batch by batch, as served: each batch's received_at is its transaction's now().
    @pytest.mark.django_db(transaction=True)
    def test_the_late_check_is_marked_after_the_attempt(self, sent, member):
        rows = timeline_rows(member("finance").get(PAGE).content.decode())
        late = [row for row in rows if row.get("data-after-attempt") == "true"]
        assert [row["data-event-id"] for row in late] == [sent["late"][0]["event_id"]]
        assert late[0].get("data-arrived-later") == "true"
        assert "after the attempt</span>" in member("ops", username="o").get(PAGE).content.decode()

    def test_header_costs_and_verdicts(self, sent, member):
        html = member("finance").get(PAGE).content.decode()
        figures = {item["data-metric"]: item.get("data-value") for item in page_metrics(html)}
        assert (figures["project"], figures["service"], figures["mode"]) == (
            "support",
            "router",
            "hybrid",
        )
        assert (figures["attempts"], figures["checks"]) == ("2", "2")
        costs = [item["data-value"] for item in page_metrics(html) if "data-kind" in item]
        assert "0.01250000" in costs  # the fallback's reported cost
        assert "fallback from gpt-5.4" in html
        assert 'data-value="block"' in html
        assert "pii (high)" in html

    def test_another_organizations_user_gets_404(self, sent):
        client = Client()
        client.force_login(UserFactory.create(organization__name="globex", role="admin"))
        response = client.get(PAGE)
        assert response.status_code == 404
        assert b'id="not-found"' in response.content
        # Only the id it was asked for: none of the request's events.
        assert b"fallback from" not in response.content
        assert b"request-timeline" not in response.content

    def test_unknown_id_is_404(self, member):
        response = member("finance").get("/dashboard/requests/no-such-id/")
        assert response.status_code == 404
        assert "There is no request \u201cno-such-id\u201d" in response.content.decode()

    def test_anonymous_goes_to_sign_in(self, sent):
        response = Client().get(PAGE)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]

    def test_an_id_in_two_projects_offers_both(self, sent, member, organization):
        search = ProjectFactory.create(organization=organization, name="search", matrix=True)
        key = ApiKeyFactory.create(service=ServiceFactory.create(project=search, name="indexer"))
        client = Client()
        response = client.post(
            "/api/v1/ingest",
            {"batch": [routing_event(request_id=REQUEST_ID)]},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
        )
        assert response.json()["accepted"] == 1
        viewer = member("finance")
        html = viewer.get(PAGE).content.decode()
        assert re.findall(r'data-project="([^"]+)"', html) == ["search", "support"]
        chosen = viewer.get(PAGE, {"project": "search"}).content.decode()
        assert len(timeline_rows(chosen)) == 1
        assert viewer.get(PAGE, {"project": "nope"}).status_code == 404


@pytest.mark.django_db
class TestSearchBox:
    def test_every_page_has_it(self, member):
        html = member("finance").get("/dashboard/").content.decode()
        assert 'action="/dashboard/requests/"' in html
        assert 'name="request_id"' in html

    def test_redirects_to_the_request_page_without_whitespace(self, member):
        response = member("finance").get("/dashboard/requests/", {"request_id": f"  {REQUEST_ID} "})
        assert response.status_code == 302
        assert response["Location"] == PAGE

    def test_an_id_with_a_space_and_a_question_mark_survives(self, member):
        response = member("finance").get("/dashboard/requests/", {"request_id": "a b?c"})
        assert response["Location"] == "/dashboard/requests/a%20b%3Fc/"

    def test_empty_goes_back_without_error(self, member):
        viewer = member("finance")
        response = viewer.get(
            "/dashboard/requests/",
            {"request_id": "  "},
            HTTP_REFERER="http://testserver/dashboard/cost/",
        )
        assert (response.status_code, response["Location"]) == (
            302,
            "http://testserver/dashboard/cost/",
        )
        response = viewer.get("/dashboard/requests/", HTTP_REFERER="https://evil.example/")
        assert (response.status_code, response["Location"]) == (302, "/dashboard/")

    def test_too_long_is_400_naming_the_field(self, member):
        response = member("finance").get("/dashboard/requests/", {"request_id": "x" * 129})
        assert response.status_code == 400
        assert b'data-field="request_id"' in response.content
        assert b"at most 128 characters" in response.content

"""GET /api/v1/requests/<request_id>: one request's attempts and checks, in time order, for a
read key of its project or a member of its organization, and 404 for everyone else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from ingestion.models import RoutingEvent
from ingestion.selectors import request_traces
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import ApiKeyFactory, ProjectFactory, ServiceFactory, UserFactory

REQUEST_ID = "req-fallback-1"
URL = f"/api/v1/requests/{REQUEST_ID}"


def client_with_key(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def fallback_request(at: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A request that failed over: a check, a failed gpt-5.4 attempt (priced), a claude
    fallback (reported cost); then, in a later batch, an output check that blocked it.
    The first batch is sent out of time order on purpose."""
    first = [
        routing_event(
            timestamp=(at + timedelta(seconds=2)).isoformat(),
            request_id=REQUEST_ID,
            model="claude-opus-4.6",
            provider="anthropic",
            fallback_from="gpt-5.4",
            cost_usd="0.0125",
            latency_ms=350.0,
            routing_latency_ms=3.5,
        ),
        routing_event(
            timestamp=(at + timedelta(seconds=1)).isoformat(),
            request_id=REQUEST_ID,
            status="error",
            error_type="upstream_503",
            latency_ms=900.0,
        ),
        enforcement_event(timestamp=at.isoformat(), request_id=REQUEST_ID),
    ]
    late = [
        enforcement_event(
            timestamp=(at + timedelta(seconds=3)).isoformat(),
            request_id=REQUEST_ID,
            layer="verification",
            policy="output-safety",
            verdict="block",
            violation="pii",
            severity="high",
        )
    ]
    return first, late


@pytest.fixture
def at() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


@pytest.fixture
def sent(post_batch, at) -> dict[str, Any]:
    first, late = fallback_request(at)
    assert post_batch(first).json()["accepted"] == 3
    assert post_batch(late).json()["accepted"] == 1
    return {"first": first, "late": late}


@pytest.fixture
def read_key(project) -> str:
    return ApiKeyFactory.create(project=project, scope="read").raw_key


@pytest.mark.django_db
class TestAnswer:
    def test_attempts_and_checks_in_time_order(self, sent, read_key, at):
        response = client_with_key(read_key).get(URL)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"request_id", "project", "service", "mode", "attempts", "checks"}
        assert (body["request_id"], body["project"], body["service"], body["mode"]) == (
            REQUEST_ID,
            "support",
            "router",
            "hybrid",
        )
        first, late = sent["first"], sent["late"]
        assert [attempt["event_id"] for attempt in body["attempts"]] == [
            first[1]["event_id"],
            first[0]["event_id"],
        ]
        # The check of the later batch comes after the first one, by time.
        assert [check["event_id"] for check in body["checks"]] == [
            first[2]["event_id"],
            late[0]["event_id"],
        ]
        failed, fallback = body["attempts"]
        assert (failed["model"], failed["status"], failed["error_type"]) == (
            "gpt-5.4",
            "error",
            "upstream_503",
        )
        assert fallback["fallback_from"] == "gpt-5.4"
        assert fallback["routing_latency_ms"] == 3.5
        assert failed["routing_latency_ms"] is None
        assert datetime.fromisoformat(fallback["timestamp"]) == at + timedelta(seconds=2)
        blocked = body["checks"][1]
        assert blocked == {
            "event_id": late[0]["event_id"],
            "timestamp": (at + timedelta(seconds=3)).isoformat(),
            "layer": "verification",
            "policy": "output-safety",
            "verdict": "block",
            "violation": "pii",
            "severity": "high",
            "false_positive": False,
            "check_latency_ms": 4.2,
            "mode": None,
            "policy_version": None,
        }
        assert fallback["router_version"] is None

    def test_versions_and_a_check_only_requests_mode_are_shown(self, post_batch, read_key, at):
        blocked = "req-blocked-early"
        events = [
            enforcement_event(timestamp=at.isoformat(), request_id=blocked),
            enforcement_event(
                timestamp=(at + timedelta(seconds=1)).isoformat(),
                request_id=blocked,
                verdict="block",
                mode="enforcement_first",
                policy_version="input-guard-3",
            ),
            enforcement_event(
                timestamp=(at + timedelta(seconds=2)).isoformat(),
                request_id=blocked,
                mode="hybrid",
            ),
        ]
        assert post_batch(events).json()["accepted"] == 3
        body = client_with_key(read_key).get(f"/api/v1/requests/{blocked}").json()
        # No attempt: the mode of the first check that carries one.
        assert body["mode"] == "enforcement_first"
        assert [(c["mode"], c["policy_version"]) for c in body["checks"]] == [
            (None, None),
            ("enforcement_first", "input-guard-3"),
            ("hybrid", None),
        ]
        attempt = routing_event(
            timestamp=(at + timedelta(seconds=3)).isoformat(),
            request_id=blocked,
            mode="routing_first",
            router_version="cfg-9f2c",
        )
        assert post_batch([attempt]).json()["accepted"] == 1
        body = client_with_key(read_key).get(f"/api/v1/requests/{blocked}").json()
        assert body["mode"] == "routing_first"  # an attempt's mode comes first
        assert body["attempts"][0]["router_version"] == "cfg-9f2c"

    def test_reported_cost_else_priced_to_six_places(self, sent, read_key):
        body = client_with_key(read_key).get(URL).json()
        failed, fallback = body["attempts"]
        assert fallback["cost_usd"] == "0.012500"  # reported
        priced = RoutingEvent.objects.get(event_id=failed["event_id"])
        assert priced.reported_cost_usd is None
        assert priced.priced_cost_usd is not None and priced.priced_cost_usd > 0
        assert failed["cost_usd"] == str(priced.priced_cost_usd.quantize(Decimal("0.000001")))

    def test_a_member_of_the_organization_reads_it(self, sent, organization):
        client = APIClient()
        client.force_login(UserFactory.create(organization=organization, role="finance"))
        response = client.get(URL)
        assert response.status_code == 200
        assert len(response.json()["attempts"]) == 2

    def test_csv_is_refused_naming_the_format(self, sent, read_key):
        response = client_with_key(read_key).get(URL, {"format": "csv"})
        assert response.status_code == 400
        assert response.json()["field"] == "format"


@pytest.mark.django_db
class TestAccess:
    def test_anonymous_is_401(self, sent):
        assert APIClient().get(URL).status_code == 401

    def test_ingest_key_is_403_like_the_other_read_endpoints(self, sent, ingest_key):
        assert client_with_key(ingest_key).get(URL).status_code == 403

    def test_read_key_of_another_project_is_404(self, sent, organization):
        other = ProjectFactory.create(organization=organization, name="search")
        key = ApiKeyFactory.create(project=other, scope="read").raw_key
        response = client_with_key(key).get(URL)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_another_organizations_member_is_404(self, sent):
        client = APIClient()
        client.force_login(UserFactory.create(organization__name="globex", role="admin"))
        assert client.get(URL).status_code == 404

    def test_another_organizations_read_key_is_404(self, sent):
        rival = ProjectFactory.create(organization__name="globex", name="support")
        key = ApiKeyFactory.create(project=rival, scope="read").raw_key
        assert client_with_key(key).get(URL).status_code == 404

    def test_unknown_id_is_404(self, sent, read_key):
        assert client_with_key(read_key).get("/api/v1/requests/no-such-id").status_code == 404

    def test_an_id_too_long_to_exist_is_404(self, read_key):
        assert client_with_key(read_key).get(f"/api/v1/requests/{'x' * 129}").status_code == 404


@pytest.mark.django_db
class TestSeveralProjects:
    @pytest.fixture
    def twice(self, sent, organization, at) -> None:
        search = ProjectFactory.create(organization=organization, name="search", matrix=True)
        key = ApiKeyFactory.create(service=ServiceFactory.create(project=search, name="indexer"))
        response = client_with_key(key.raw_key).post(
            "/api/v1/ingest",
            {"batch": [routing_event(timestamp=at.isoformat(), request_id=REQUEST_ID)]},
            format="json",
        )
        assert response.json()["accepted"] == 1

    @pytest.fixture
    def member(self, organization) -> APIClient:
        client = APIClient()
        client.force_login(UserFactory.create(organization=organization, role="ops"))
        return client

    def test_a_member_must_name_the_project(self, twice, member):
        response = member.get(URL)
        assert response.status_code == 400
        assert response.json()["field"] == "project"
        assert "search, support" in response.json()["detail"]

    def test_the_named_project_answers(self, twice, member):
        body = member.get(URL, {"project": "search"}).json()
        assert (body["project"], body["service"], len(body["attempts"])) == ("search", "indexer", 1)

    def test_an_unknown_project_is_400(self, twice, member):
        response = member.get(URL, {"project": "nope"})
        assert response.status_code == 400
        assert response.json()["field"] == "project"

    def test_a_read_key_sees_its_own_project_only(self, twice, read_key):
        body = client_with_key(read_key).get(URL).json()
        assert (body["project"], len(body["attempts"])) == ("support", 2)

    def test_the_selector_keeps_to_the_organization(self, twice, organization):
        rival = ProjectFactory.create(organization__name="globex", name="aaa")
        traces = request_traces(request_id=REQUEST_ID, organization_id=rival.organization_id)
        assert traces == []
        traces = request_traces(request_id=REQUEST_ID, organization_id=organization.pk)
        assert [trace.project for trace in traces] == ["search", "support"]


@pytest.mark.django_db
def test_the_schema_documents_the_endpoint(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/requests/{request_id}"]["get"]
    assert operation["operationId"] == "requests_retrieve"
    assert {"200", "401", "403", "404"} <= set(operation["responses"])


@pytest.mark.django_db
def test_the_answer_reads_a_fixed_number_of_queries(sent, read_key, django_assert_max_num_queries):
    # Key lookup and scope, then projects, attempts, checks and services: none per event.
    client = client_with_key(read_key)
    with django_assert_max_num_queries(6):
        assert client.get(URL).status_code == 200

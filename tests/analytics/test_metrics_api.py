"""The metrics API's contract: who may read what, parameters, CSV, and query counts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics.api.renderers import CsvRenderer
from analytics.rollups.job import rollups_advance
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import ApiKeyFactory, ProjectFactory, UserFactory

ENDPOINTS = [
    "/api/v1/metrics/summary",
    "/api/v1/metrics/models",
    "/api/v1/metrics/layers",
    "/api/v1/metrics/timeseries?metric=attempts",
    "/api/v1/drift",
    "/api/v1/metrics/policies",
    "/api/v1/rollouts",
]
PARAMS = {"/api/v1/metrics/timeseries?metric=attempts": {"metric": "attempts"}}


def client_with_key(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def read_key(project) -> str:
    return ApiKeyFactory.create(project=project, scope="read").raw_key


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize("url", ENDPOINTS)
    def test_no_credentials_is_401(self, url):
        assert APIClient().get(url).status_code == 401

    @pytest.mark.parametrize("url", ENDPOINTS)
    def test_ingest_key_is_403(self, url, ingest_key):
        assert client_with_key(ingest_key).get(url).status_code == 403

    @pytest.mark.parametrize("url", ENDPOINTS)
    def test_read_key_is_200(self, url, read_key):
        assert client_with_key(read_key).get(url).status_code == 200

    def test_member_session_is_200_and_needs_csrf_only_for_writes(self, project):
        user = UserFactory.create(organization=project.organization, role="ops")
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(user)
        assert client.get("/api/v1/metrics/summary").status_code == 200

    def test_user_without_organization_is_403(self, django_user_model):
        stranger = django_user_model.objects.create_user(
            username="stranger", password="pw-123-long"
        )
        client = APIClient()
        client.force_login(stranger)
        assert client.get("/api/v1/metrics/summary").status_code == 403

    def test_read_key_cannot_name_another_project(self, organization, read_key):
        ProjectFactory(organization=organization, name="other")
        response = client_with_key(read_key).get("/api/v1/metrics/summary", {"project": "other"})
        assert response.status_code == 400
        assert response.json()["field"] == "project"


@pytest.mark.django_db
class TestParameters:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "yesterday"}, "from"),
            ({"to": "2026-11-25T10:00:00"}, "to"),
            ({"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"}, "from"),
            ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
            ({"mode": "fastest"}, "mode"),
            ({"project": "nope"}, "project"),
            ({"service": "nope"}, "service"),
        ],
    )
    def test_bad_parameter_is_400_naming_it(self, read_key, params, field):
        response = client_with_key(read_key).get("/api/v1/metrics/summary", params)
        assert response.status_code == 400
        assert response.json()["field"] == field

    @pytest.mark.parametrize("url", ENDPOINTS)
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            # Times whose window, or the window before it, leaves the calendar's range.
            ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"}, "from"),
            ({"to": "0001-01-01T10:00:00Z"}, "to"),
            ({"from": "0001-01-01T00:00:00+01:00", "to": "0001-01-01T12:00:00Z"}, "from"),
            ({"to": "9999-12-31T23:59:00-01:00"}, "to"),
            ({"from": "9000-06-01T00:00:00Z", "to": "9000-06-02T00:00:00Z"}, "from"),
            # A window that is empty once taken to the minute.
            ({"from": "2026-11-25T10:00:10Z", "to": "2026-11-25T10:00:50Z"}, "from"),
        ],
    )
    def test_hostile_times_are_400_naming_them(self, read_key, url, params, field):
        response = client_with_key(read_key).get(url, {**PARAMS.get(url, {}), **params})
        assert response.status_code == 400, response.content
        assert response.json()["field"] == field
        assert response.json()["detail"].startswith(f"{field}: ")

    def test_from_after_to_names_both(self, read_key):
        response = client_with_key(read_key).get(
            "/api/v1/metrics/summary",
            {"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"},
        )
        assert response.status_code == 400
        assert response.json()["field"] == "from"
        assert response.json()["detail"] == (
            "from: must be before to (2026-11-25 10:00 UTC is not before 2026-11-25 09:00 UTC)"
        )

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({}, "metric"),
            ({"metric": "happiness"}, "metric"),
            ({"metric": "attempts", "interval": "week"}, "interval"),
            ({"metric": "attempts", "group_by": "colour"}, "group_by"),
            ({"metric": "cost_usd", "group_by": "layer"}, "group_by"),
            (
                {
                    "metric": "attempts",
                    "interval": "minute",
                    "from": "2026-01-01T00:00:00Z",
                    "to": "2026-03-01T00:00:00Z",
                },
                "interval",
            ),
        ],
    )
    def test_bad_timeseries_parameter(self, read_key, params, field):
        response = client_with_key(read_key).get("/api/v1/metrics/timeseries", params)
        assert response.status_code == 400
        assert response.json()["field"] == field

    def test_window_is_taken_to_the_minute_and_echoed(self, read_key):
        body = (
            client_with_key(read_key)
            .get(
                "/api/v1/metrics/summary",
                {
                    "from": "2026-11-25T10:00:42Z",
                    "to": "2026-11-25T11:30:59.9Z",
                    "model": "gpt-5.4",
                },
            )
            .json()
        )
        assert body["window"] == {
            "from": "2026-11-25T10:00:00+00:00",
            "to": "2026-11-25T11:30:00+00:00",
            "filters": {"model": "gpt-5.4"},
            "repricing": [],
        }


@pytest.mark.django_db(transaction=True)
class TestWithData:
    @pytest.fixture
    def loaded(self, post_batch, project, service, read_key):
        now = datetime.now(UTC)
        stamp = (now - timedelta(minutes=3)).isoformat()
        events = [routing_event(timestamp=stamp, request_id=f"r{i}") for i in range(20)]
        events += [
            enforcement_event(timestamp=stamp, request_id=f"r{i}", verdict="block")
            for i in range(5)
        ]
        assert post_batch(events).status_code == 200
        other_key = ApiKeyFactory.create().raw_key  # an ingest key of another organization
        assert (
            post_batch(
                [routing_event(timestamp=stamp) for _ in range(7)], key=other_key
            ).status_code
            == 200
        )
        rollups_advance()
        return {
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        }

    def test_figures_are_limited_to_the_callers_organization(self, loaded, read_key, organization):
        summary = client_with_key(read_key).get("/api/v1/metrics/summary", loaded).json()
        assert (summary["attempts"], summary["requests"]) == (20, 20)
        assert summary["block_rate"] == 0.25
        rival = UserFactory.create(role="ops")  # of an organization of their own
        client = APIClient()
        client.force_login(rival)
        assert client.get("/api/v1/metrics/summary", loaded).json()["attempts"] == 0

    def test_csv_export_of_each_table(self, loaded, read_key):
        client = client_with_key(read_key)
        models = client.get("/api/v1/metrics/models", {**loaded, "format": "csv"})
        assert models["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(models.content.decode())))
        assert rows[0]["model"] == "gpt-5.4" and rows[0]["attempts"] == "20"
        assert "latency_ms.p95" in rows[0]
        summary = list(
            csv.DictReader(
                io.StringIO(
                    client.get(
                        "/api/v1/metrics/summary", {**loaded, "format": "csv"}
                    ).content.decode()
                )
            )
        )
        assert summary[0]["requests"] == "20" and summary[0]["cost_usd"]
        for url, extra in (
            ("/api/v1/metrics/layers", {}),
            ("/api/v1/metrics/policies", {}),
            ("/api/v1/drift", {}),
            ("/api/v1/metrics/timeseries", {"metric": "requests"}),
        ):
            response = client.get(url, {**loaded, **extra, "format": "csv"})
            assert response.status_code == 200 and response.content.count(b"\n") >= 2, url

    @pytest.mark.parametrize(
        ("url", "most"),
        [
            (ENDPOINTS[0], 8),
            (ENDPOINTS[1], 6),
            (ENDPOINTS[2], 6),
            (ENDPOINTS[3], 6),
            (ENDPOINTS[4], 9),
            (ENDPOINTS[5], 6),
            (ENDPOINTS[6], 6),
        ],
    )
    def test_query_counts_do_not_depend_on_data(self, loaded, read_key, url, most):
        client = client_with_key(read_key)
        params = {**loaded, **PARAMS.get(url, {})}
        client.get(url, params)  # warm
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, params).status_code == 200
        assert len(queries) <= most, [q["sql"][:80] for q in queries]


def test_csv_cells_cannot_run_as_formulas():
    """Names come from ingest: a model named like a formula stays text in a spreadsheet."""
    body = CsvRenderer().render(
        {
            "rows": [
                {"model": '=HYPERLINK("http://evil","x")', "routing_savings_usd": "-0.200000"},
                {"model": "gpt-5.4", "routing_savings_usd": "0.100000"},
            ]
        }
    )
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows[0]["model"] == '\'=HYPERLINK("http://evil","x")'
    assert rows[0]["routing_savings_usd"] == "-0.200000"  # a negative number stays a number
    assert rows[1]["model"] == "gpt-5.4"

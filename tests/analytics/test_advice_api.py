"""`GET /api/v1/advice` (DESIGN.md "Architecture comparison and advice"): the answer's shape,
the measured mode's row exactly as `/compare` gives it, a required project, `mode` refused,
another project of the organization or another organization's a 404, and a query count that
does not grow with the traffic's modes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics.rollups.job import rollups_advance
from governance.models import ProjectProfile
from tests.analytics.test_metrics import NOW, read_client_of
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import OrganizationFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = {"from": (NOW - timedelta(hours=1)).isoformat(), "to": NOW.isoformat()}


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def _post(post_batch, mode: str, count: int, layers: tuple[str, ...] = ("preprocess",)) -> None:
    events = []
    for index in range(count):
        request_id = f"{mode}-{index}"
        events.append(routing_event(request_id=request_id, mode=mode, timestamp=_at(5)))
        events += [
            enforcement_event(request_id=request_id, layer=layer, timestamp=_at(5))
            for layer in layers
        ]
    assert post_batch(events).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


def _advice(client: APIClient, **params: str) -> dict[str, Any]:
    response = client.get("/api/v1/advice", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_answer_has_designs_shape_and_the_compare_row_of_the_measured_mode(
    post_batch, project, read_client
):
    ProjectProfile.objects.create(project=project, precision="high", traffic_pattern="fixed")
    _post(post_batch, "hybrid", 4, layers=("preprocess", "verification"))
    _post(post_batch, "routing_first", 2)
    answer = _advice(read_client, project=project.name, **HOUR)
    assert list(answer) == [
        "project", "window", "profile", "votes", "recommended_mode", "recommended_layers",
        "reasons", "override", "measured", "findings",
    ]  # fmt: skip
    assert answer["project"] == "support"
    assert answer["profile"] == {
        "precision": "high",
        "traffic_pattern": "fixed",
        "compliance": None,
        "latency_tolerance": None,
        "cost_sensitivity": None,
    }
    # One vote each for enforcement_first and routing_first: a tie recommends hybrid.
    assert answer["votes"] == {"routing_first": 1, "enforcement_first": 1, "hybrid": 0}
    assert (answer["recommended_mode"], answer["recommended_layers"]) == ("hybrid", "5-7")
    assert answer["reasons"] == [
        {"question": "precision", "answer": "high", "vote": "enforcement_first"},
        {"question": "traffic_pattern", "answer": "fixed", "vote": "routing_first"},
    ]
    assert answer["override"] is None
    measured = answer["measured"]
    assert (measured["mode"], measured["layers_seen"]) == ("hybrid", 2)
    compare = read_client.get("/api/v1/compare", HOUR).json()["modes"]
    hybrid = next(row for row in compare if row["mode"] == "hybrid")
    assert {name: value for name, value in measured.items() if name != "layers_seen"} == hybrid
    codes = [finding["code"] for finding in answer["findings"]]
    assert "too_few_layers" in codes and "mode_mismatch" not in codes
    assert all(set(finding) == {"code", "message"} for finding in answer["findings"])
    assert answer["window"]["from"] == HOUR["from"]


def test_without_a_profile_or_traffic(project, read_client):
    answer = _advice(read_client, project=project.name)
    assert answer["profile"] is None and answer["measured"] is None
    assert answer["recommended_mode"] is None and answer["recommended_layers"] is None
    assert answer["votes"] == {"routing_first": 0, "enforcement_first": 0, "hybrid": 0}
    assert [finding["code"] for finding in answer["findings"]] == ["no_profile"]


def test_the_override_says_why_routing_first_was_set_aside(project, read_client):
    ProjectProfile.objects.create(
        project=project, compliance="strong", traffic_pattern="fixed", cost_sensitivity="high"
    )
    answer = _advice(read_client, project=project.name)
    assert answer["recommended_mode"] == "hybrid"
    assert answer["override"] == "high-risk traffic must pass runtime checks"


def test_bad_parameters_answer_400_naming_the_field(project, read_client):
    for params, field in [
        ({}, "project"),
        ({"project": ""}, "project"),
        ({"project": "support\x00"}, "project"),
        ({"project": "support", "mode": "hybrid"}, "mode"),
        ({"project": "support", "from": "yesterday"}, "from"),
        ({"project": "support", "format": "csv"}, "format"),
    ]:
        response = read_client.get("/api/v1/advice", params)
        assert response.status_code == 400, params
        assert response.json()["field"] == field, params


def test_a_project_the_caller_cannot_see_is_not_found(project, read_client, client):
    sibling = ProjectFactory.create(organization=project.organization, name="billing")
    other = ProjectFactory.create(organization=OrganizationFactory.create(name="umbrella"))
    assert read_client.get("/api/v1/advice", {"project": "nope"}).status_code == 404
    # A read key answers for its own project only, as every metrics view scopes keys.
    assert read_client.get("/api/v1/advice", {"project": sibling.name}).status_code == 404
    assert read_client.get("/api/v1/advice", {"project": other.name}).status_code == 404
    assert read_client_of(other).get("/api/v1/advice", {"project": "support"}).status_code == 404
    # A member of the organization sees every project of it.
    member = UserFactory.create(organization=project.organization, username="viv", role="finance")
    client.force_login(member)
    assert client.get("/api/v1/advice", {"project": sibling.name}).json()["project"] == "billing"
    assert client.get("/api/v1/advice", {"project": other.name}).status_code == 404
    assert APIClient().get("/api/v1/advice", {"project": "support"}).status_code in (401, 403)


def test_the_schema_lists_advice_with_a_required_project_and_no_mode(client):
    operation = client.get("/api/schema/", {"format": "json"}).json()["paths"]["/api/v1/advice"]
    parameters = {parameter["name"]: parameter for parameter in operation["get"]["parameters"]}
    assert parameters["project"]["required"] is True
    assert {"from", "to", "service", "model", "environment"} <= set(parameters)
    assert "mode" not in parameters


def test_query_count_does_not_grow_with_the_modes_run(post_batch, project, read_client):
    ProjectProfile.objects.create(project=project, precision="high")
    _post(post_batch, "hybrid", 3)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert read_client.get("/api/v1/advice", {"project": "support"}).status_code == 200
        return len(captured)

    before = queries()
    _post(post_batch, "routing_first", 2, layers=("review", "routing"))
    _post(post_batch, "enforcement_first", 2, layers=("verification",))
    assert queries() == before <= 12

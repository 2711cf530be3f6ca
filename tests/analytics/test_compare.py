"""The architecture comparison (`GET /api/v1/compare`, DESIGN.md "Architecture comparison
and advice"): every row is `/metrics/summary?mode=` of its mode and the plain recomputation
of the raw events, through late events, replays, a price change and rebuilds; the reference
positions; the traffic migration time of the window's model incidents per mode; CSV; bad
parameters; tenant isolation.

These tests commit (transactional): the rollup job only reads events of finished
transactions, as in production.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from analytics.alerts.evaluation import alerts_evaluate
from analytics.metrics.reference import REFERENCE, position_of
from analytics.metrics.results import ReferenceRange
from analytics.rollups.job import rollups_advance
from analytics.rollups.rebuild import rollups_rebuild
from governance.models import AlertRule, Project
from tests.analytics.exact import exact_summary, nearest_rank, request_mode
from tests.analytics.test_metrics import (
    NOW,
    REFERENCE_PRICES,
    START,
    post_all,
    price_change_added,
    read_client_of,
)
from tests.analytics.test_request_mode import mixed_mode_traffic
from tests.conftest import routing_event
from tests.governance.factories import OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = {"from": START.isoformat(), "to": NOW.isoformat()}
EDGES = {
    "from": (NOW - timedelta(hours=7, minutes=13)).isoformat(),
    "to": (NOW - timedelta(hours=2, minutes=47)).isoformat(),
}
ROW_ORDER = ["routing_first", "enforcement_first", "hybrid", "unknown"]
CHECK_COST = Decimal("0.0003")  # the project's cost of a check that reports none
INCIDENT_COST = Decimal("0.05")
MICRO = Decimal("0.000001")


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


def _compare(client: APIClient, **params: str) -> dict[str, Any]:
    response = client.get("/api/v1/compare", params)
    assert response.status_code == 200, response.content
    return response.json()


def _summary_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's figures a compare row repeats, under the row's names."""
    return {
        "requests": summary["requests"],
        "attempts": summary["attempts"],
        "routing_latency_ms": {
            name: summary["routing_latency_ms"][name] for name in ("p50", "p95")
        },
        "latency_ms": {name: summary["latency_ms"][name] for name in ("p50", "p95", "p99")},
        "overhead_ms": summary["overhead_ms"],
        "end_to_end_ms": summary["end_to_end_ms"],
        **{
            name: summary[name]
            for name in (
                "cost_usd", "cost_per_1k_requests_usd", "baseline_cost_usd",
                "routing_savings_usd", "enforcement_cost_usd", "roi", "savings_multiple",
                "interception_rate", "violation_rate", "detected_violation_rate", "catch_rate",
                "false_positive_rate", "error_rate", "availability",
            )
        },
    }  # fmt: skip


def _row_figures(row: dict[str, Any]) -> dict[str, Any]:
    traffic, latency = row["traffic"], row["latency"]
    return {
        "requests": traffic["requests"],
        "attempts": traffic["attempts"],
        "routing_latency_ms": traffic["routing_latency_ms"],
        **latency,
        **{
            name: value
            for name, value in row["cost"].items()
            if name not in ("routing_savings_share", "enforcement_cost_per_1k_requests_usd")
        },
        **{
            name: value
            for name, value in row["security"].items()
            if name not in ("checks_per_request", "layers_per_request")
        },
        "error_rate": row["reliability"]["error_rate"],
        "availability": row["reliability"]["availability"],
    }


def _exact(events: list[dict[str, Any]], mode: str, window: dict[str, str]) -> dict[str, Any]:
    from datetime import datetime

    return exact_summary(
        events,
        start=datetime.fromisoformat(window["from"]).replace(second=0, microsecond=0),
        end=datetime.fromisoformat(window["to"]).replace(second=0, microsecond=0),
        prices=REFERENCE_PRICES,
        baseline_model="claude-opus-4.6",
        interception_cost=Decimal("0.002"),
        correction_cost=Decimal("0.005"),
        check_cost=CHECK_COST,
        mode=mode,
    )


def _check_row_against_raw(row: dict[str, Any], exact: dict[str, Any]) -> None:
    requests = exact["requests"]
    assert row["traffic"]["requests"] == requests
    assert row["traffic"]["attempts"] == exact["attempts"]
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        for figure, values in (("end_to_end_ms", "end_to_end"), ("overhead_ms", "overheads")):
            truth = nearest_rank(exact[values], q)
            shown = row["latency"][figure][name]
            # Within 1% of the exact nearest rank; none without requests that have any.
            assert shown is None if truth is None else shown == pytest.approx(truth, rel=0.01)
    # The checks' own cost (reported, else the project's check cost) of the mode's requests.
    assert Decimal(row["cost"]["enforcement_cost_usd"]) == exact["enforcement_cost"].quantize(MICRO)
    per_1k = (exact["enforcement_cost"] * 1000 / requests).quantize(MICRO)
    assert Decimal(row["cost"]["enforcement_cost_per_1k_requests_usd"]) == per_1k
    security = row["security"]
    assert security["checks_per_request"] == pytest.approx(exact["checks"] / requests, abs=1e-6)
    if exact["with_checks"]:
        assert security["layers_per_request"] == pytest.approx(
            exact["layers_seen"] / exact["with_checks"], abs=1e-6
        )
    else:
        assert security["layers_per_request"] is None
    assert row["observability"]["events_per_request"] == pytest.approx(
        (exact["attempts"] + exact["checks"]) / requests, abs=1e-6
    )


def _posted_mixed_traffic(post_batch, project, seed: int) -> list[dict[str, Any]]:
    price_change_added(project)
    Project.objects.filter(pk=project.pk).update(
        check_cost_usd=CHECK_COST, incident_cost_usd=INCIDENT_COST
    )
    events = mixed_mode_traffic(seed)
    # Checks are posted before attempts for many requests: attempts and checks come late.
    post_all(post_batch, events, random.Random(seed), roll_between=True)
    assert post_batch(events[:200]).json()["duplicates"] == 200  # a replay changes nothing
    rollups_advance()
    return events


@pytest.mark.parametrize("seed", [3])
def test_each_row_is_the_summary_of_its_mode_and_the_raw_events(
    post_batch, project, read_client, seed
):
    events = _posted_mixed_traffic(post_batch, project, seed)
    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_request[event["request_id"]].append(event)
    assert {request_mode(evs) for evs in by_request.values()} == {
        "routing_first", "enforcement_first", "hybrid", "",
    }  # fmt: skip
    assert any(event.get("cost_usd") for event in events if event["type"] == "enforcement")

    answers = {}
    for window in (WINDOW, EDGES):
        answer = _compare(read_client, **window)
        assert [row["mode"] for row in answer["modes"]] == ROW_ORDER
        for row in answer["modes"]:
            summary = read_client.get(
                "/api/v1/metrics/summary", {**window, "mode": row["mode"]}
            ).json()
            assert _row_figures(row) == _summary_figures(summary), row["mode"]
            _check_row_against_raw(row, _exact(events, row["mode"], window))
        answers[window["from"]] = answer

    unknown = answers[WINDOW["from"]]["modes"][-1]
    assert unknown["traffic"]["attempts"] == 0  # blocked before any attempt, no mode told
    assert unknown["reference"] == {} and unknown["position"] == {}
    hybrid = answers[WINDOW["from"]]["modes"][2]
    exact = _exact(events, "hybrid", WINDOW)
    attempts = [
        e for e in events if e["type"] == "routing" and e["mode"] == "hybrid"
        and START.isoformat() <= e["timestamp"] < NOW.isoformat()
    ]  # fmt: skip
    models = {e["model"] for e in attempts}
    assert hybrid["traffic"]["model_shares"] == {
        model: pytest.approx(sum(e["model"] == model for e in attempts) / len(attempts), abs=1e-6)
        for model in models
    }
    assert hybrid["traffic"]["fallback_share"] == pytest.approx(
        sum(bool(e.get("fallback_from")) for e in attempts) / len(attempts), abs=1e-6
    )
    assert hybrid["cost"]["routing_savings_share"] == pytest.approx(
        float(exact["savings"] / exact["baseline"]), abs=1e-6
    )
    # enforcement_first's savings share is of the error cost: caught / (caught + escaped).
    enforcement = answers[WINDOW["from"]]["modes"][1]
    exact = _exact(events, "enforcement_first", WINDOW)
    assert enforcement["position"]["savings_share"]["value"] == pytest.approx(
        exact["caught"] / (exact["caught"] + exact["escaped"]), abs=1e-5
    )
    routing = answers[WINDOW["from"]]["modes"][0]
    exact = _exact(events, "routing_first", WINDOW)
    assert routing["position"]["savings_share"]["value"] == pytest.approx(
        float(exact["savings"] / exact["baseline"]), abs=1e-6
    )
    assert routing["reference"]["latency_p95_ms"] == 280
    assert routing["reference"]["error_rate"] == {"low": 0.005, "high": 0.02}
    p95 = routing["latency"]["latency_ms"]["p95"]
    # The row's own P95 placed against routing_first's 280 ms, 10% either side.
    expected = "below" if p95 < 252 else "above" if p95 > 308 else "within"
    assert routing["position"]["latency_p95_ms"] == {"value": p95, "position": expected}

    # A rebuild of the raw events, and a fresh rollup from scratch, make the same rows.
    rollups_rebuild(project=project, start=START, end=NOW + timedelta(hours=1))
    assert _compare(read_client, **WINDOW)["modes"] == answers[WINDOW["from"]]["modes"]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
            "analytics_requestrollup, analytics_layerrollup, analytics_versionrollup"
        )
    rollups_advance()
    assert _compare(read_client, **EDGES)["modes"] == answers[EDGES["from"]]["modes"]


def test_late_checks_keep_each_modes_check_figures_exact(post_batch, project, read_client):
    """Attempts first, their checks afterwards in several rolled-up batches: each late check
    adds its cost, layer and count to its request's mode (a request blocked before any
    attempt may change mode with them)."""
    price_change_added(project)
    Project.objects.filter(pk=project.pk).update(
        check_cost_usd=CHECK_COST, incident_cost_usd=INCIDENT_COST
    )
    events = mixed_mode_traffic(8)
    attempts = [e for e in events if e["type"] == "routing"]
    checks = [e for e in events if e["type"] == "enforcement"]
    random.Random(8).shuffle(checks)
    for batch in (attempts, *(checks[start : start + 300] for start in range(0, len(checks), 300))):
        for start in range(0, len(batch), 500):
            assert post_batch(batch[start : start + 500]).json()["rejected"] == 0
        rollups_advance()
    answer = _compare(read_client, **WINDOW)
    assert [row["mode"] for row in answer["modes"]] == ROW_ORDER
    for row in answer["modes"]:
        _check_row_against_raw(row, _exact(events, row["mode"], WINDOW))


def test_csv_has_a_line_per_mode_with_flattened_columns(post_batch, project, read_client):
    _posted_mixed_traffic(post_batch, project, 5)
    answer = _compare(read_client, **WINDOW)
    response = read_client.get("/api/v1/compare", {**WINDOW, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [line["mode"] for line in lines] == [row["mode"] for row in answer["modes"]]
    for line, row in zip(lines, answer["modes"], strict=True):
        assert int(line["traffic.requests"]) == row["traffic"]["requests"]
        assert line["cost.enforcement_cost_usd"] == row["cost"]["enforcement_cost_usd"]
        assert line["reliability.migration_time_s.count"] == "0"
    assert lines[0]["position.latency_p50_ms.position"] in ("below", "within", "above")


def test_mode_unknown_in_the_metrics_api_selects_requests_with_no_mode(
    post_batch, project, read_client
):
    events = _posted_mixed_traffic(post_batch, project, 6)
    summary = read_client.get("/api/v1/metrics/summary", {**WINDOW, "mode": "unknown"}).json()
    assert summary["window"]["filters"] == {"mode": "unknown"}
    exact = _exact(events, "unknown", WINDOW)
    assert summary["requests"] == exact["requests"] > 0
    assert summary["attempts"] == 0
    assert Decimal(summary["enforcement_cost_usd"]) == exact["enforcement_cost"].quantize(MICRO)


@pytest.mark.parametrize(
    ("value", "reference", "position"),
    [
        (149.0, ReferenceRange("latency_p50_ms", 150, 150), "within"),
        (135.0, ReferenceRange("latency_p50_ms", 150, 150), "within"),  # 10% below
        (134.9, ReferenceRange("latency_p50_ms", 150, 150), "below"),
        (165.0, ReferenceRange("latency_p50_ms", 150, 150), "within"),  # 10% above
        (165.1, ReferenceRange("latency_p50_ms", 150, 150), "above"),
        (0.004, ReferenceRange("error_rate", 0.005, 0.02), "below"),  # ranges: no tolerance
        (0.005, ReferenceRange("error_rate", 0.005, 0.02), "within"),
        (0.02, ReferenceRange("error_rate", 0.005, 0.02), "within"),
        (0.021, ReferenceRange("error_rate", 0.005, 0.02), "above"),
        (None, ReferenceRange("error_rate", 0.005, 0.02), None),
        # Availability's 10% is of the requests it leaves unserved: 99.9% is 99.89-99.91%.
        (0.9989, ReferenceRange("availability", 0.999, 0.999), "within"),
        (0.9991, ReferenceRange("availability", 0.999, 0.999), "within"),
        (0.9988, ReferenceRange("availability", 0.999, 0.999), "below"),
        (0.95, ReferenceRange("availability", 0.999, 0.999), "below"),
        (0.9995, ReferenceRange("availability", 0.999, 0.999), "above"),
        (1.0, ReferenceRange("availability", 0.999, 0.999), "above"),
    ],
)
def test_position_against_a_range_or_a_single_value_within_ten_percent(value, reference, position):
    assert position_of(value, reference) == position


def test_reference_holds_the_articles_section_5_figures():
    figures = {ref.figure: (ref.low, ref.high) for ref in REFERENCE["enforcement_first"]}
    assert figures == {
        "latency_p50_ms": (180, 180),
        "latency_p95_ms": (320, 320),
        "latency_p99_ms": (500, 500),
        "error_rate": (0.001, 0.005),
        "violation_rate": (0.0001, 0.001),
        "availability": (0.9999, 0.9999),
        "migration_time_s": (15, 60),
        "savings_share": (0.30, 0.45),
    }
    assert set(REFERENCE) == {"routing_first", "enforcement_first", "hybrid"}


def _failover(mode: str, *, failed_at: timedelta, fallback_at: timedelta) -> list[dict]:
    """Ten requests of `mode` whose claude-opus-4.6 call fails at NOW - failed_at and falls
    back to gpt-5.4 at NOW - fallback_at."""
    events = []
    for index in range(10):
        request_id = f"{mode}-{index}"
        events.append(
            routing_event(
                request_id=request_id,
                timestamp=(NOW - failed_at).isoformat(),
                model="claude-opus-4.6",
                mode=mode,
                status="error",
            )
        )
        events.append(
            routing_event(
                request_id=request_id,
                timestamp=(NOW - fallback_at).isoformat(),
                model="gpt-5.4",
                mode=mode,
                fallback_from="claude-opus-4.6",
            )
        )
    return events


def test_migration_time_of_the_windows_model_incidents_per_mode(post_batch, project, read_client):
    AlertRule.objects.create(
        project=project,
        name="models",
        kind="model_failure",
        threshold=0.5,
        window_minutes=15,
        for_minutes=0,
        min_requests=5,
        repeat_minutes=60,
    )
    events = _failover(
        "routing_first", failed_at=timedelta(minutes=30), fallback_at=timedelta(minutes=28)
    ) + _failover(
        "hybrid",
        failed_at=timedelta(minutes=29, seconds=30),
        fallback_at=timedelta(minutes=25),
    )
    events += [  # requests served by gpt-5.4 from their first attempt
        routing_event(
            request_id=f"gpt-{index}", timestamp=(NOW - timedelta(minutes=30)).isoformat()
        )
        for index in range(3)
    ]
    assert post_batch(events).json()["accepted"] == len(events)
    rollups_advance()
    alerts_evaluate(now=NOW - timedelta(minutes=20))  # the incident opens
    alerts_evaluate(now=NOW - timedelta(minutes=2))  # claude's traffic has stopped: resolved

    rows = {
        row["mode"]: row["reliability"]["migration_time_s"]
        for row in _compare(read_client, **{"from": (NOW - timedelta(hours=1)).isoformat()})[
            "modes"
        ]
    }
    # From the first failure to the first minute its fallbacks served under the threshold.
    assert rows == {
        "routing_first": {"count": 1, "median": 120.0, "max": 120.0},
        "hybrid": {"count": 1, "median": 270.0, "max": 270.0},
    }
    # Under a model filter, only that model's incidents count.
    gpt = _compare(
        read_client, **{"from": (NOW - timedelta(hours=1)).isoformat(), "model": "gpt-5.4"}
    )
    assert [
        (row["mode"], row["reliability"]["migration_time_s"]["count"]) for row in gpt["modes"]
    ] == [("hybrid", 0)]
    # A window the incident did not open in has none.
    before = _compare(
        read_client,
        **{
            "from": (NOW - timedelta(minutes=40)).isoformat(),
            "to": (NOW - timedelta(minutes=21)).isoformat(),
        },
    )
    assert [row["reliability"]["migration_time_s"]["count"] for row in before["modes"]] == [0, 0]
    position = {row["mode"]: row["position"]["migration_time_s"] for row in before["modes"]}
    assert position["hybrid"] == {"value": None, "position": None}


def test_bad_parameters_answer_400_naming_the_field(read_client, project):
    for params, field in [
        ({"mode": "hybrid"}, "mode"),
        ({"mode": ""}, "mode"),
        ({"from": "yesterday"}, "from"),
        ({"project": "nope"}, "project"),
        ({"format": "xml"}, "format"),
    ]:
        response = read_client.get("/api/v1/compare", params)
        assert response.status_code == 400, params
        assert response.json()["field"] == field, params
    response = read_client.get("/api/v1/metrics/summary", {"mode": "sideways"})
    assert response.status_code == 400
    assert "unknown" in response.json()["detail"]


def test_another_organization_sees_nothing_of_ours(post_batch, project, read_client):
    _posted_mixed_traffic(post_batch, project, 7)
    assert _compare(read_client, **WINDOW)["modes"]
    other = ProjectFactory.create(organization=OrganizationFactory.create(name="umbrella"))
    theirs = read_client_of(other)
    assert _compare(theirs, **WINDOW)["modes"] == []
    response = theirs.get("/api/v1/compare", {**WINDOW, "project": project.name})
    assert response.status_code == 400
    assert response.json()["field"] == "project"
    assert APIClient().get("/api/v1/compare").status_code in (401, 403)


def test_the_schema_lists_compare_without_a_mode_filter(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/compare"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"from", "to", "project", "service", "model", "environment"} <= names
    assert "mode" not in names


def test_query_count_does_not_grow_with_modes_or_incidents(post_batch, project, read_client):
    from django.test.utils import CaptureQueriesContext

    AlertRule.objects.create(
        project=project, name="models", kind="model_failure", threshold=0.5,
        window_minutes=15, for_minutes=0, min_requests=5, repeat_minutes=60,
    )  # fmt: skip
    one_mode = _failover(
        "hybrid", failed_at=timedelta(minutes=30), fallback_at=timedelta(minutes=28)
    )
    assert post_batch(one_mode).json()["accepted"] == len(one_mode)
    rollups_advance()
    alerts_evaluate(now=NOW - timedelta(minutes=20))  # an incident: hybrid traffic only
    hour = {"from": (NOW - timedelta(hours=1)).isoformat()}

    def queries() -> int:
        read_client.get("/api/v1/compare", hour)  # warm
        with CaptureQueriesContext(connection) as captured:
            assert read_client.get("/api/v1/compare", hour).status_code == 200
        return len(captured)

    before = queries()
    for mode in ("routing_first", "enforcement_first"):
        more = _failover(mode, failed_at=timedelta(minutes=30), fallback_at=timedelta(minutes=27))
        assert post_batch(more).json()["accepted"] == len(more)
    rollups_advance()  # the incident's span now holds the traffic of three modes
    rows = read_client.get("/api/v1/compare", hour).json()["modes"]
    assert len(rows) == 3 and all(
        row["reliability"]["migration_time_s"]["count"] == 1 for row in rows
    )
    assert queries() == before <= 10


def test_timeseries_by_mode_draws_each_rows_figures(post_batch, project, read_client):
    """`group_by=mode` of the timeseries (the architectures page's end-to-end chart) gives
    each mode's compare figures: requests per mode summed over the intervals, and in a window
    of one interval, each mode's end-to-end percentiles."""
    _posted_mixed_traffic(post_batch, project, 4)
    rows = {row["mode"]: row for row in _compare(read_client, **WINDOW)["modes"]}

    def series(metric: str, window: dict[str, str]) -> list[dict[str, Any]]:
        response = read_client.get(
            "/api/v1/metrics/timeseries",
            {**window, "metric": metric, "interval": "hour", "group_by": "mode"},
        )
        assert response.status_code == 200, response.content
        return response.json()["rows"]

    requests: dict[str, int] = defaultdict(int)
    for point in series("requests", WINDOW):
        requests[point["group"]] += point["value"]
    assert dict(requests) == {mode: row["traffic"]["requests"] for mode, row in rows.items()}
    assert "unknown" in requests  # requests no event told a mode of, named as mode= names them

    hour = NOW.replace(minute=0) - timedelta(hours=4)
    one_hour = {"from": hour.isoformat(), "to": (hour + timedelta(hours=1)).isoformat()}
    in_hour = {row["mode"]: row for row in _compare(read_client, **one_hour)["modes"]}
    for percentile in ("p50", "p95", "p99"):
        points = series(f"end_to_end_{percentile}_ms", one_hour)
        assert {point["group"]: point["value"] for point in points} == {
            mode: row["latency"]["end_to_end_ms"][percentile] for mode, row in in_hour.items()
        }
    refused = read_client.get(
        "/api/v1/metrics/timeseries", {"metric": "checks", "group_by": "mode"}
    )
    assert refused.status_code == 400 and refused.json()["field"] == "group_by"

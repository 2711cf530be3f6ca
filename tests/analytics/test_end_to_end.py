"""End-to-end latency per request (DESIGN.md): its attempts' routing_latency_ms (0 when
absent) + latency_ms, plus its checks' check_latency_ms; P50/P95/P99 over requests with at
least one attempt, from the request rollups' sketches. Checked against nearest-rank over the
raw events posted, with late events that change a counted request's value, replays and
rebuilds.

These tests commit (transactional): the rollup job only reads events of finished
transactions, as in production.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from analytics.rollups.job import rollups_advance
from analytics.rollups.rebuild import request_rollups_rebuild_all, rollups_rebuild
from ingestion.schema import MODES
from tests.analytics.exact import exact_summary, nearest_rank
from tests.analytics.test_metrics import NOW, REFERENCE_PRICES, START, post_all, read_client_of
from tests.conftest import enforcement_event, routing_event
from tollgate.demo.traffic import SCENARIOS, scenario_events

pytestmark = pytest.mark.django_db(transaction=True)

PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


def _summary(client: APIClient, start: datetime, end: datetime, **params: str) -> dict[str, Any]:
    response = client.get(
        "/api/v1/metrics/summary", {"from": start.isoformat(), "to": end.isoformat(), **params}
    )
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def exact_end_to_end(
    events: list[dict[str, Any]], start: datetime, end: datetime, mode: str | None = None
) -> list[float]:
    return list(
        exact_summary(
            events,
            start=start,
            end=end,
            prices=REFERENCE_PRICES,
            baseline_model="claude-opus-4.6",
            interception_cost=Decimal("0.002"),
            correction_cost=Decimal("0.005"),
            mode=mode,
        )["end_to_end"]
    )


def check_end_to_end(answer: dict[str, Any], values: list[float]) -> None:
    assert values, "the traffic must hold requests with an attempt"
    for name, q in PERCENTILES:
        truth = nearest_rank(values, q)
        assert answer["end_to_end_ms"][name] == pytest.approx(truth, rel=0.01), name


def thousands_of_requests(seed: int) -> list[dict[str, Any]]:
    """Thousands of requests in all three modes; some attempts without a routing latency,
    some requests blocked before any attempt (no end-to-end latency)."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for name, share in (("customer_service", 1500), ("content_platform", 1000)):
        events += scenario_events(
            SCENARIOS[name], start=START, end=NOW - timedelta(minutes=1), requests=share, rng=rng
        )
    modes: dict[str, str] = {}
    for event in events:
        if event["type"] == "routing":
            event["mode"] = modes.setdefault(event["request_id"], rng.choice(MODES))
            if rng.random() < 0.2:
                event.pop("routing_latency_ms", None)
    for number in range(100):
        events.append(
            enforcement_event(
                request_id=f"blocked-{seed}-{number}",
                timestamp=(START + timedelta(minutes=rng.uniform(0, 590))).isoformat(),
                verdict="block",
                mode="enforcement_first",
                check_latency_ms=round(rng.uniform(1, 400), 2),
            )
        )
    return events


def test_percentiles_within_one_percent_on_thousands_of_requests_late_events_and_replays(
    post_batch, project, read_client
):
    events = thousands_of_requests(11)
    # Checks first for many requests, rolled up between batches: attempts come late.
    post_all(post_batch, events, random.Random(11), roll_between=True)
    assert post_batch(events[:250]).json()["duplicates"] == 250  # a replay changes nothing
    rollups_advance()

    windows = [(START, NOW), (NOW - timedelta(hours=7, minutes=13), NOW - timedelta(hours=2))]
    for start, end in windows:
        values = exact_end_to_end(events, start, end)
        assert len(values) > 1000  # a few thousand requests in all, over a thousand here
        check_end_to_end(_summary(read_client, start, end), values)
    for mode in MODES:
        values = exact_end_to_end(events, START, NOW, mode)
        check_end_to_end(_summary(read_client, START, NOW, mode=mode), values)

    incremental = _summary(read_client, START, NOW)
    rollups_rebuild(project=project, start=START, end=NOW + timedelta(hours=1))
    assert _summary(read_client, START, NOW) == incremental
    with connection.cursor() as cursor:  # everything again from scratch, in one go
        cursor.execute(
            "TRUNCATE analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
            "analytics_requestrollup, analytics_layerrollup"
        )
    rollups_advance()
    assert _summary(read_client, START, NOW) == incremental


def test_a_late_event_moves_its_requests_value(post_batch, project, read_client):
    at = START + timedelta(hours=2)

    def send(*events: dict[str, Any]) -> dict[str, Any]:
        assert post_batch(list(events)).json()["accepted"] == len(events)
        rollups_advance()
        return _summary(read_client, START, NOW)["end_to_end_ms"]

    def only(value: float) -> dict[str, Any]:
        return {"p50": pytest.approx(value, rel=0.01), "p95": pytest.approx(value, rel=0.01),
                "p99": pytest.approx(value, rel=0.01)}  # fmt: skip

    # Checks alone: no attempt, no end-to-end latency.
    blocked = enforcement_event(request_id="r", timestamp=at.isoformat(), check_latency_ms=20.0)
    assert send(blocked) == {"p50": None, "p95": None, "p99": None}
    attempt = routing_event(
        request_id="r",
        timestamp=(at + timedelta(seconds=1)).isoformat(),
        latency_ms=400.0,
        routing_latency_ms=5.0,
    )
    assert send(attempt) == only(425.0)
    # An earlier failed attempt without a routing latency, and a later check, arrive late.
    failed = routing_event(
        request_id="r",
        timestamp=(at - timedelta(seconds=3)).isoformat(),
        latency_ms=900.0,
        status="timeout",
    )
    review = enforcement_event(
        request_id="r",
        timestamp=(at + timedelta(minutes=70)).isoformat(),
        layer="review",
        check_latency_ms=75.0,
    )
    assert send(failed, review) == only(1400.0)
    assert post_batch([failed, attempt]).json()["duplicates"] == 2
    rollups_advance()
    assert _summary(read_client, START, NOW)["end_to_end_ms"] == only(1400.0)
    # The request moved to the minute of its late first event: its old bucket is empty.
    before = _summary(read_client, START, at)["end_to_end_ms"]
    assert before == only(1400.0)
    assert _summary(read_client, at, NOW)["end_to_end_ms"] == {
        "p50": None, "p95": None, "p99": None,
    }  # fmt: skip

    # The migration's rebuild of facts made before end-to-end latency gives the same.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE analytics_requestfact SET attempt_latency_ms = 0")
        cursor.execute("UPDATE analytics_requestrollup SET end_to_end_sketch = ''::bytea")
    assert _summary(read_client, START, NOW)["end_to_end_ms"]["p50"] is None
    assert request_rollups_rebuild_all() > 0
    assert _summary(read_client, START, NOW)["end_to_end_ms"] == only(1400.0)

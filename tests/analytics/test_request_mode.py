"""A request's mode (DESIGN.md): its first attempt's, else that of its first enforcement event
that carries one, else unknown. Held in the request facts, so it stays exact when a late
attempt (or an earlier check) arrives after the rollups counted the request, through replays
and rebuilds; the `mode=` filter of the summary and the timeseries follow it.

These tests commit (transactional): the rollup job only reads events of finished
transactions, as in production.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from analytics.rollups.job import rollups_advance
from analytics.rollups.rebuild import rollups_rebuild
from ingestion.schema import MODES
from tests.analytics.exact import exact_summary, request_mode
from tests.analytics.test_metrics import (
    NOW,
    START,
    check_summary,
    exact_for,
    post_all,
    price_change_added,
    read_client_of,
    traffic,
)
from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = {"from": START.isoformat(), "to": NOW.isoformat()}


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


def _requests_by_mode(client: APIClient) -> dict[str, int]:
    counts = {}
    for mode in MODES:
        response = client.get("/api/v1/metrics/summary", {**WINDOW, "mode": mode})
        assert response.status_code == 200, response.content
        counts[mode] = response.json()["requests"]
    return counts


def _at(seconds: int) -> str:
    return (START + timedelta(hours=1, seconds=seconds)).isoformat()


def test_late_attempts_and_earlier_checks_move_the_request_to_its_mode(
    post_batch, project, read_client
):
    def send(*events: dict[str, Any]) -> dict[str, int]:
        assert post_batch(list(events)).json()["accepted"] == len(events)
        rollups_advance()
        return _requests_by_mode(read_client)

    none = dict.fromkeys(MODES, 0)
    # A: a check carrying a mode blocks it; then an earlier attempt arrives late.
    # B: a check without a mode (unknown), a later one with a mode, then a late check earlier
    #    than that one with another mode, then an attempt later than every check.
    # C: blocked before any attempt, its mode on the check; nothing else ever comes.
    assert send(
        enforcement_event(
            request_id="a", timestamp=_at(10), verdict="block", mode="enforcement_first"
        ),
        enforcement_event(request_id="b", timestamp=_at(20)),
        enforcement_event(
            request_id="c", timestamp=_at(30), verdict="block", mode="enforcement_first"
        ),
    ) == {**none, "enforcement_first": 2}
    assert send(
        routing_event(request_id="a", timestamp=_at(5), mode="routing_first"),
        enforcement_event(request_id="b", timestamp=_at(25), mode="hybrid"),
    ) == {**none, "routing_first": 1, "hybrid": 1, "enforcement_first": 1}
    assert send(
        enforcement_event(request_id="b", timestamp=_at(22), mode="enforcement_first"),
    ) == {**none, "routing_first": 1, "enforcement_first": 2}
    assert send(
        routing_event(request_id="b", timestamp=_at(40), mode="hybrid"),
    ) == {**none, "routing_first": 1, "hybrid": 1, "enforcement_first": 1}
    summary = read_client.get("/api/v1/metrics/summary", WINDOW).json()
    assert summary["requests"] == 3  # a request is counted once whatever its mode

    blocked = read_client.get(
        "/api/v1/metrics/summary", {**WINDOW, "mode": "enforcement_first"}
    ).json()
    assert (blocked["requests"], blocked["attempts"], blocked["block_rate"]) == (1, 0, 1.0)

    rollups_rebuild(project=project, start=START, end=NOW + timedelta(hours=1))
    assert _requests_by_mode(read_client) == {
        **none,
        "routing_first": 1,
        "hybrid": 1,
        "enforcement_first": 1,
    }


def mixed_mode_traffic(seed: int) -> list[dict[str, Any]]:
    """The metrics tests' traffic with every request given one of the three modes, its checks
    sometimes carrying a mode (not always the attempts'), and requests blocked before any
    attempt, some carrying a mode on a later check only, some on none."""
    rng = random.Random(seed)
    events = traffic(seed)
    modes: dict[str, str] = {}
    for event in events:
        mode = modes.setdefault(event["request_id"], rng.choice(MODES))
        if event["type"] == "routing":
            event["mode"] = mode if rng.random() < 0.9 else rng.choice(MODES)
        elif rng.random() < 0.3:
            event["mode"] = rng.choice(MODES)
    for number in range(60):
        at = START + timedelta(minutes=rng.uniform(0, 590))
        first = enforcement_event(
            request_id=f"blocked-{seed}-{number}",
            timestamp=at.isoformat(),
            layer="preprocess",
            verdict="flag",
            check_latency_ms=round(rng.uniform(1, 20), 2),
        )
        second = enforcement_event(
            request_id=f"blocked-{seed}-{number}",
            timestamp=(at + timedelta(seconds=rng.randint(1, 90))).isoformat(),
            layer="routing",
            verdict="block",
            violation="prompt_injection",
            check_latency_ms=round(rng.uniform(1, 20), 2),
        )
        if number % 4:  # a quarter stay unknown
            target = first if number % 2 else second
            target["mode"] = rng.choice(MODES)
        events += [first, second]
    return events


@pytest.mark.parametrize("seed", [3, 4])
def test_mode_filter_matches_the_raw_events_with_late_events_replays_and_rebuilds(
    post_batch, project, read_client, seed
):
    price_change_added(project)
    events = mixed_mode_traffic(seed)
    # Checks are posted before attempts for many requests: the attempts come late.
    post_all(post_batch, events, random.Random(seed), roll_between=True)
    assert post_batch(events[:200]).json()["duplicates"] == 200  # a replay changes nothing
    rollups_advance()

    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_request[event["request_id"]].append(event)
    mode_of = {rid: request_mode(evs) for rid, evs in by_request.items()}
    assert set(mode_of.values()) == {*MODES, ""}  # every mode and unknown are in the traffic
    # Requests no attempt tells, whose mode comes from a check.
    assert any(
        m and all(e["type"] == "enforcement" for e in by_request[r]) for r, m in mode_of.items()
    )

    # Unfiltered, every figure is the plain recomputation's, as before modes on checks.
    check_summary(
        read_client.get("/api/v1/metrics/summary", WINDOW).json(), exact_for(events, START, NOW)
    )
    answers = {}
    for mode in MODES:
        answer = read_client.get("/api/v1/metrics/summary", {**WINDOW, "mode": mode}).json()
        exact = exact_summary(
            events,
            start=START,
            end=NOW,
            prices=[],
            baseline_model="claude-opus-4.6",
            interception_cost=Decimal(0),
            correction_cost=Decimal(0),
            mode=mode,
        )
        assert answer["requests"] == exact["requests"], mode
        assert answer["attempts"] == exact["attempts"], mode
        for key, name in [
            ("interception_rate", "intercepted"),
            ("block_rate", "blocked"),
            ("violation_rate", "escaped"),
            ("detected_violation_rate", "detected"),
        ]:
            assert answer[key] == pytest.approx(exact[name] / exact["requests"], abs=1e-6), key
        answers[mode] = answer

        series = read_client.get(
            "/api/v1/metrics/timeseries",
            {**WINDOW, "metric": "requests", "interval": "hour", "mode": mode},
        ).json()["rows"]
        expected: Counter[str] = Counter()
        for rid, evs in by_request.items():
            first = min(datetime.fromisoformat(e["timestamp"]) for e in evs).astimezone(UTC)
            if mode_of[rid] == mode and START <= first < NOW:
                expected[first.replace(minute=0, second=0, microsecond=0).isoformat()] += 1
        assert {p["time"]: p["value"] for p in series if p["value"]} == dict(expected), mode

    # A rebuild of the raw events, and a fresh rollup from scratch, make the same figures.
    rollups_rebuild(project=project, start=START, end=NOW + timedelta(hours=1))
    for mode in MODES:
        again = read_client.get("/api/v1/metrics/summary", {**WINDOW, "mode": mode}).json()
        assert again == answers[mode], mode
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
            "analytics_requestrollup, analytics_layerrollup"
        )
    rollups_advance()
    for mode in MODES:
        again = read_client.get("/api/v1/metrics/summary", {**WINDOW, "mode": mode}).json()
        assert again == answers[mode], mode

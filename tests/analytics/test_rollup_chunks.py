"""However the job cuts the events into chunks, the rollups come out the same; and a request
a later chunk changes moves out of its old rollup row exactly, whatever its text holds.

Small chunks exercise every step between chunks: the next chunk read ahead and half-built
(request deltas, layer rows) on the read-ahead thread, facts upserted by the helper thread,
requests whose events fall in different chunks, buckets that several chunks add to.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from analytics.rollups.families import ATTEMPTS, LAYERS, REQUESTS, Family
from analytics.rollups.job import rollups_advance
from analytics.rollups.sketch import sketch_unpack
from tests.conftest import enforcement_event, routing_event
from tollgate.demo.traffic import SCENARIOS, scenario_events

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ROLLUP_TABLES = (
    "analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
    "analytics_requestrollup, analytics_layerrollup"
)


def _rows(family: Family) -> dict[tuple, dict]:
    """Every rollup row of the family by grain, bucket and dimensions; sketches as counts."""
    keys = ("grain", "bucket", *family.dims)
    columns = (*keys, *family.measures)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {family.table}")  # noqa: S608
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for name in family.sketches:
            row[name] = sketch_unpack(bytes(row[name]) if row[name] is not None else None)
    return {tuple(row[key] for key in keys): row for row in rows}


def _facts() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT project_id, request_id, first_seen, service_id, environment, model, mode, "
            "attempts, ok_attempts, checks, intercepted, blocked, modified, violation_detected, "
            "caught, escaped, false_positive FROM analytics_requestfact ORDER BY request_id"
        )
        return cursor.fetchall()


def _assert_same_rows(family: Family, chunked: dict, whole: dict) -> None:
    assert chunked.keys() == whole.keys(), family.table
    for key, row in whole.items():
        for name in family.floats:  # summed in another order: equal up to rounding
            assert chunked[key][name] == pytest.approx(row[name], rel=1e-12), (key, name)
        exact = [name for name in family.measures if name not in family.floats]
        assert {name: chunked[key][name] for name in exact} == {
            name: row[name] for name in exact
        }, key


def test_small_chunks_make_the_rollups_one_chunk_makes(post_batch, project):
    start = NOW - timedelta(hours=2)
    events: list[dict[str, Any]] = []
    for seed, scenario in enumerate(("customer_service", "content_platform")):
        events += scenario_events(
            SCENARIOS[scenario],
            start=start,
            end=NOW - timedelta(minutes=1),
            requests=150,
            rng=random.Random(seed),
        )
    random.Random(3).shuffle(events)  # late enforcement events, out of time order
    for position in range(0, len(events), 200):
        response = post_batch(events[position : position + 200])
        assert response.status_code == 200, response.content

    chunked_run = rollups_advance(max_seconds=float("inf"), chunk_events=30)
    assert chunked_run.chunks > 10
    chunked = {family.table: _rows(family) for family in (ATTEMPTS, REQUESTS, LAYERS)}
    chunked_facts = _facts()

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ROLLUP_TABLES}")
    whole_run = rollups_advance(max_seconds=float("inf"))
    assert whole_run.chunks == 1
    assert whole_run.total_events == chunked_run.total_events == len(events)

    assert chunked_facts == _facts()
    for family in (ATTEMPTS, REQUESTS, LAYERS):
        _assert_same_rows(family, chunked[family.table], _rows(family))
        assert chunked[family.table], family.table


def test_a_late_check_moves_a_request_with_awkward_text_exactly(post_batch, project):
    """The facts fold reads the old and new fact back as CSV: quotes, commas, newlines and
    "NA" in its text must come back as they went in, or the old contribution would be taken
    from a row that is not there."""
    tricky_model = 'model, "quoted"\nNA'
    request_id = 'req,"1"\nNA'
    routing = routing_event(request_id=request_id, model=tricky_model, environment="NA")
    assert post_batch([routing]).json()["accepted"] == 1
    assert rollups_advance(max_seconds=float("inf")).total_events == 1
    late = enforcement_event(request_id=request_id, verdict="block", environment="NA")
    assert post_batch([late]).json()["accepted"] == 1
    assert rollups_advance(max_seconds=float("inf")).total_events == 1

    requests = _rows(REQUESTS)
    minutes = {key: row for key, row in requests.items() if key[0] == "m"}
    assert len(minutes) == 1
    ((key, row),) = minutes.items()
    assert key[-2:] == (tricky_model, "hybrid")  # model, mode: the attempt's
    assert key[-3] == "NA"  # environment
    assert (row["requests"], row["with_attempt"], row["with_checks"]) == (1, 1, 1)
    assert (row["intercepted"], row["blocked"]) == (1, 1)

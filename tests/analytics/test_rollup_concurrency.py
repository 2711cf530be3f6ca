"""Two workers running the rollup job at the same time double count nothing.

Two threads, each with its own database connection, run the job over the same committed
events in small chunks until neither finds work; every event is folded in exactly once and the
summary equals that of a single run over the same events.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import Summary
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from analytics.rollups.job import RollupRun, rollups_advance
from tollgate.demo.traffic import SCENARIOS, scenario_events

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=3)
CHUNK_EVENTS = 40  # many small chunks, so the two workers take turns at the lock
ROLLUP_TABLES = (
    "analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
    "analytics_requestrollup, analytics_layerrollup"
)


def _worker(runs: list[RollupRun], errors: list[BaseException], start: threading.Barrier) -> None:
    """Run the job until a run that held the lock found nothing left to do."""
    try:
        start.wait(timeout=30)
        while True:
            run = rollups_advance(max_seconds=float("inf"), chunk_events=CHUNK_EVENTS)
            runs.append(run)
            if not run.skipped_locked and run.total_events == 0:
                return
            if run.skipped_locked:
                time.sleep(0.001)  # the other worker holds the lock; try again shortly
    except BaseException as exc:  # re-raised in the test's thread
        errors.append(exc)
    finally:
        connection.close()  # this thread's own connection


def _summary(project) -> Summary:
    return metrics_summary(MetricsQuery(window=Window.of(START, NOW), projects=(project,)))


def test_two_concurrent_rollups_double_count_nothing(post_batch, project):
    events = list(
        scenario_events(
            SCENARIOS["customer_service"],
            start=START,
            end=NOW - timedelta(minutes=1),
            requests=300,
            rng=random.Random(11),
        )
    )
    for position in range(0, len(events), 250):
        response = post_batch(events[position : position + 250])
        assert response.status_code == 200, response.content
    routing = sum(event["type"] == "routing" for event in events)

    runs: list[RollupRun] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)
    threads = [threading.Thread(target=_worker, args=(runs, errors, start)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors

    assert any(run.skipped_locked for run in runs)  # they did meet at the lock
    assert sum(run.events["routing"] for run in runs) == routing  # each event exactly once
    assert sum(run.total_events for run in runs) == len(events)
    concurrent = _summary(project)
    assert concurrent.attempts == routing
    assert concurrent.requests == len({event["request_id"] for event in events})

    with connection.cursor() as cursor:  # the same events, rolled up by one worker alone
        cursor.execute(f"TRUNCATE {ROLLUP_TABLES}")
    single = rollups_advance(max_seconds=float("inf"))
    assert single.total_events == len(events)
    assert _summary(project) == concurrent

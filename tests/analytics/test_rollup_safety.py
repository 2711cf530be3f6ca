"""The rollup job never skips an event whose transaction commits after a later one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from analytics.models import Watermark
from analytics.rollups.job import rollups_advance
from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db(transaction=True)


ROUTING_INSERT = (
    'INSERT INTO ingestion_routingevent (project_id, service_id, event_id, "timestamp", '
    "request_id, environment, model, provider, mode, user_tier, input_tokens, output_tokens, "
    "tool_calls, cache_read_tokens, cache_write_tokens, reasoning_tokens, complexity_score, "
    "complexity_computed, latency_ms, status, error_type, fallback_from, route_reason) "
    "VALUES (%s, %s, %s, %s, 'late-commit', 'production', 'gpt-5.4', 'openai', 'hybrid', "
    "'standard', 10, 5, 0, 0, 0, 0, 1, true, 100, 'ok', '', '', '')"
)
ENFORCEMENT_INSERT = (
    'INSERT INTO ingestion_enforcementevent (project_id, service_id, event_id, "timestamp", '
    "request_id, environment, layer, policy, verdict, violation, severity, false_positive, "
    "check_latency_ms) VALUES (%s, %s, %s, %s, 'late-commit', 'production', 'execution', "
    "'pii', 'block', 'pii', 'high', false, 4)"
)


def _session() -> psycopg.Connection:
    """A connection of its own, as another ingest process would have."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
    )


@pytest.mark.parametrize("stream", ["routing", "enforcement"])
def test_transactions_that_took_ids_past_xmax_do_not_let_the_watermark_pass_an_open_one(
    stream, post_batch, project, service
):
    """Issue 12's reproduction: an open transaction holding an event, a batch ingested after
    it, then two transactions taking ids past xmax (xmax is the last completed id plus one).
    Widened against xmax as if below it, their ids made a negative floor that wrapped to no
    bound: the rollups passed the open transaction and its event was never folded."""
    insert = ROUTING_INSERT if stream == "routing" else ENFORCEMENT_INSERT
    rollups_advance()  # a job that has run before: its first run's own writes would move xmax
    held, *later = (_session() for _ in range(3))
    try:
        held.execute(insert, [project.pk, service.pk, uuid.uuid4(), datetime.now(UTC)])
        make = routing_event if stream == "routing" else enforcement_event
        assert post_batch([make() for _ in range(3)]).json()["accepted"] == 3
        for session in later:
            session.execute("SELECT pg_current_xact_id()")

        first = rollups_advance()
        assert first.events[stream] == 0  # held back behind the open transaction

        for session in (held, *later):
            session.commit()
    finally:
        for session in (held, *later):
            session.close()

    second = rollups_advance()
    assert second.events[stream] == 4
    assert Watermark.objects.get(stream=stream).events_processed == 4


def test_an_older_open_transaction_holds_later_events_back_until_it_commits(
    post_batch, project, service
):
    slow = _session()
    try:
        slow.execute("SELECT pg_current_xact_id()")  # an ingest transaction that began first
        assert post_batch([routing_event() for _ in range(3)]).json()["accepted"] == 3

        first = rollups_advance()
        assert first.total_events == 0  # waits: the older transaction may still add events

        slow.execute(
            ROUTING_INSERT,
            [project.pk, service.pk, uuid.uuid4(), datetime.now(UTC) - timedelta(minutes=2)],
        )
        slow.commit()
    finally:
        slow.close()

    second = rollups_advance()
    assert second.events["routing"] == 4
    assert Watermark.objects.get(stream="routing").events_processed == 4

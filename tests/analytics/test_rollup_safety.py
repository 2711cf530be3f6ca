"""The rollup job never skips an event whose transaction commits after a later one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from analytics.models import Watermark
from analytics.rollup import rollups_advance
from tests.conftest import routing_event

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_older_open_transaction_holds_later_events_back_until_it_commits(
    post_batch, project, service
):
    settings = connection.settings_dict
    slow = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
    )
    try:
        slow.execute("SELECT pg_current_xact_id()")  # an ingest transaction that began first
        assert post_batch([routing_event() for _ in range(3)]).json()["accepted"] == 3

        first = rollups_advance()
        assert first.total_events == 0  # waits: the older transaction may still add events

        slow.execute(
            'INSERT INTO ingestion_routingevent (project_id, service_id, event_id, "timestamp", '
            "request_id, environment, model, provider, mode, user_tier, input_tokens, output_tokens, "
            "tool_calls, cache_read_tokens, cache_write_tokens, reasoning_tokens, complexity_score, "
            "complexity_computed, latency_ms, status, error_type, fallback_from, route_reason) "
            "VALUES (%s, %s, %s, %s, 'late-commit', 'production', 'gpt-5.4', 'openai', 'hybrid', "
            "'standard', 10, 5, 0, 0, 0, 0, 1, true, 100, 'ok', '', '', '')",
            [project.pk, service.pk, uuid.uuid4(), datetime.now(UTC) - timedelta(minutes=2)],
        )
        slow.commit()
    finally:
        slow.close()

    second = rollups_advance()
    assert second.events["routing"] == 4
    assert Watermark.objects.get(stream="routing").events_processed == 4

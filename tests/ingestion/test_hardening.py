"""Edge cases of the ingest path found in review: none of them may lose data or answer 500."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from unittest import mock

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion.models import EnforcementEvent, RoutingEvent
from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def test_deeply_nested_attributes_are_a_field_error(post_batch):
    response = post_batch([routing_event(attributes=nested(300)), routing_event()])
    assert response.status_code == 207
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "attributes")]


def test_the_text_backslash_u0000_is_not_a_nul(post_batch):
    event = routing_event(attributes={"path": "C:\\u0000dir"})
    assert post_batch([event]).status_code == 200
    assert RoutingEvent.objects.get(event_id=event["event_id"]).attributes == {
        "path": "C:\\u0000dir"
    }


def test_nul_in_an_attribute_key_is_refused(post_batch):
    body = post_batch([routing_event(attributes={"a\x00b": 1})]).json()
    assert [e["field"] for e in body["errors"]] == ["attributes"]


def test_multi_member_gzip_is_read_whole(post_batch):
    body = json.dumps({"batch": [routing_event(), enforcement_event()]}).encode()
    half = len(body) // 2
    response = post_batch(
        body=gzip.compress(body[:half]) + gzip.compress(body[half:]), HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 2


def test_bytes_after_the_gzip_stream_are_refused(post_batch):
    body = gzip.compress(json.dumps({"batch": [routing_event()]}).encode()) + b"garbage"
    response = post_batch(body=body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert RoutingEvent.objects.count() == 0


def test_compressed_body_over_the_limit_is_413_before_reading(post_batch):
    response = post_batch(
        body=b"\x1f\x8b" + b"\x00" * (5 * 1024 * 1024), HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 413


def test_odd_content_length_is_not_a_500(post_batch):
    response = post_batch([routing_event()], CONTENT_LENGTH="²")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("timestamp", "accepted"),
    [
        ("{now}z", True),  # lower-case z is RFC 3339
        ("{now}+00:00", True),
        ("{now_no_fraction}.123456789Z", True),  # nanoseconds, truncated to microseconds
        ("2026-W48-3T10:00:00Z", False),  # ISO week date
        ("{minute}Z", False),  # no seconds
        ("{now_no_fraction}+25:00", False),  # impossible offset
        ("{now_no_fraction}", False),  # no offset
    ],
)
def test_timestamps_must_be_rfc3339(post_batch, timestamp, accepted):
    now = timezone.now() - timedelta(minutes=1)
    text = timestamp.format(
        now=now.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        now_no_fraction=now.strftime("%Y-%m-%dT%H:%M:%S"),
        minute=now.strftime("%Y-%m-%dT%H:%M"),
    )
    body = post_batch([routing_event(timestamp=text)]).json()
    assert (body["accepted"] == 1) is accepted, body


@pytest.mark.parametrize("cost", ["1_000", " ", "1e", "-0.1", "NaN", "Infinity"])
def test_cost_must_be_a_plain_decimal(post_batch, cost):
    body = post_batch([routing_event(cost_usd=cost)]).json()
    assert [e["field"] for e in body["errors"]] == ["cost_usd"]


# Arabic-Indic 12, Persian 12, fullwidth 12, superscript 2, and 1.5 with an Arabic-Indic 5.
@pytest.mark.parametrize(
    "cost", ["\u0661\u0662", "\u06f1\u06f2", "\uff11\uff12", "\u00b2", "1.\u0665"]
)
def test_cost_takes_the_digits_0_to_9_only(post_batch, cost):
    """Decimal() reads digits of any script: "١٢" was accepted as a cost of 12."""
    response = post_batch([routing_event(cost_usd=cost), routing_event(cost_usd="12")])
    body = response.json()
    assert response.status_code == 207 and body["accepted"] == 1
    (error,) = body["errors"]
    assert (error["index"], error["field"]) == (0, "cost_usd")
    assert "0-9" in error["message"]


def test_one_event_id_in_both_tables_is_two_events(post_batch):
    routing = routing_event()
    enforcement = enforcement_event(event_id=routing["event_id"], timestamp=routing["timestamp"])
    assert post_batch([routing, enforcement]).json()["accepted"] == 2
    assert RoutingEvent.objects.count() == EnforcementEvent.objects.count() == 1


def test_query_count_does_not_grow_with_the_batch(post_batch):
    def queries_for(size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert post_batch([routing_event() for _ in range(size)]).status_code == 200
        return len(captured)

    queries_for(1)  # warm: partitions and staging tables
    assert queries_for(5) == queries_for(500)


@pytest.mark.django_db(transaction=True)
def test_connection_killed_mid_copy_answers_503(post_batch):
    """The server ends this very session while the batch is being copied."""
    from ingestion import writer

    real_copy = writer._copy
    settings = connection.settings_dict

    def kill_own_backend_then_copy(cursor, *args):
        backend_pid = cursor.connection.info.backend_pid
        with psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"],
            host=settings["HOST"],
            port=settings["PORT"] or None,
            autocommit=True,
        ) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        return real_copy(cursor, *args)

    with mock.patch("ingestion.writer._copy", side_effect=kill_own_backend_then_copy):
        response = post_batch([routing_event()])

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert post_batch([routing_event()]).status_code == 200  # reconnected on the next request

"""The raw event streams read in ingest order past a position (ingestion.selectors.events_after,
the rollup job's read): bounds, limit, columns, and the order of what comes back."""

from __future__ import annotations

import pytest
from django.db import transaction

from ingestion.event_reads import ROUTING_COLUMNS, ROUTING_SQL, events_fetched
from ingestion.selectors import events_after
from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db(transaction=True)

EVERYTHING = (2**62, 2**63 - 1)


def _positions(events) -> list[tuple[int, int]]:
    return list(zip(events["xid"].tolist(), events["seq"].tolist(), strict=True))


def test_a_read_takes_the_events_past_after_up_to_upto_in_ingest_order(post_batch):
    for _ in range(3):
        assert post_batch([routing_event() for _ in range(3)]).json()["accepted"] == 3
    with transaction.atomic():
        every = _positions(events_after("routing", after=(0, 0), upto=EVERYTHING, limit=100))
        assert len(every) == 9
        assert every == sorted(every)
        # Past the second event (exclusive), up to the seventh (inclusive), at most three.
        read = events_after("routing", after=every[1], upto=every[6], limit=3)
        assert _positions(read) == every[2:5]
        assert (
            _positions(events_after("routing", after=every[1], upto=every[6], limit=99))
            == (every[2:7])
        )


def test_each_stream_reads_its_own_table_and_columns(post_batch):
    batch = [routing_event(model="gpt-5.4"), enforcement_event(layer="verification")]
    assert post_batch(batch).json()["accepted"] == 2
    with transaction.atomic():
        routing = events_after("routing", after=(0, 0), upto=EVERYTHING, limit=10)
        checks = events_after("enforcement", after=(0, 0), upto=EVERYTHING, limit=10)
    assert list(routing.columns) == list(ROUTING_COLUMNS)
    assert routing["model"].tolist() == ["gpt-5.4"]
    assert checks["layer"].tolist() == ["verification"]
    assert str(routing["timestamp"].dt.tz) == "UTC"


def test_rows_come_back_in_ingest_order_even_when_the_query_gives_them_out_of_order(post_batch):
    for _ in range(3):
        assert post_batch([routing_event() for _ in range(4)]).json()["accepted"] == 4
    reversed_sql = ROUTING_SQL.replace(
        "ORDER BY ingest_xid, seq", "ORDER BY ingest_xid DESC, seq DESC"
    )
    assert reversed_sql != ROUTING_SQL
    with transaction.atomic():
        events = events_fetched(reversed_sql, ["0", 0, str(2**62), 0, 100], ROUTING_COLUMNS, None)
    positions = _positions(events)
    assert len(positions) == 12
    assert positions == sorted(positions)

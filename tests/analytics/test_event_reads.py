"""The rollup job's reads: the chunk read ahead is the chunk the job would read, and the job
holds its lock from its first chunk to its last."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest
from django.db import connection, transaction

from analytics.rollups.job import ROLLUP_LOCK_KEY, _rollup_lock_held
from analytics.rollups.reads import ReadAhead, positions_after, streams_read
from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db(transaction=True)

START = {"routing": (0, 0), "enforcement": (0, 0)}


def _read_here(starts, limit):
    with transaction.atomic():
        return streams_read(starts, limit)


def test_the_chunk_read_ahead_is_the_one_the_job_reads_next(post_batch):
    events = [routing_event() for _ in range(7)] + [enforcement_event() for _ in range(5)]
    assert post_batch(events).json()["accepted"] == 12
    first = _read_here(START, limit=4)
    after_first = positions_after(START, first)
    ahead = ReadAhead(lambda streams: streams)
    try:
        ahead.ask(after_first, 4)
        taken = ahead.take(after_first, 4)
    finally:
        ahead.close()
    assert taken is not None
    read_later = _read_here(after_first, limit=4)
    assert taken.keys() == read_later.keys()
    for stream, events in taken.items():
        pd.testing.assert_frame_equal(events, read_later[stream])
    assert sum(len(events) for events in taken.values()) > 0


def test_a_read_ahead_from_other_starts_is_not_used(post_batch):
    assert post_batch([routing_event() for _ in range(3)]).json()["accepted"] == 3
    ahead = ReadAhead(lambda streams: streams)
    try:
        ahead.ask(START, 10)
        assert ahead.take({"routing": (0, 1), "enforcement": (0, 0)}, 10) is None
        assert ahead.take(START, 10) is None  # a read is taken once
    finally:
        ahead.close()


def _other_session_takes_the_lock() -> bool:
    with psycopg.connect(**connection.get_connection_params()) as other:
        (taken,) = other.execute("SELECT pg_try_advisory_lock(%s)", [ROLLUP_LOCK_KEY]).fetchall()[0]
        if taken:
            other.execute("SELECT pg_advisory_unlock(%s)", [ROLLUP_LOCK_KEY])
        return taken


def test_the_job_holds_its_lock_for_the_whole_run_and_lets_it_go():
    with _rollup_lock_held() as held:
        assert held
        assert not _other_session_takes_the_lock()
    assert _other_session_takes_the_lock()


def test_text_survives_the_csv_read_exactly(post_batch):
    tricky = 'r,1 "quoted"\nnext line'
    events = [
        routing_event(request_id=tricky, model="NA", routing_latency_ms=3.0),  # fallback: ""
        routing_event(request_id="plain", fallback_from="gpt-5.4", routing_latency_ms=None),
        enforcement_event(request_id=tricky, violation="pii, leak"),
        enforcement_event(request_id="plain", violation=None),
    ]
    response = post_batch(events)
    assert response.json()["accepted"] == 4, response.content
    streams = _read_here(START, limit=10)
    routing = streams["routing"].set_index("request_id")
    enforcement = streams["enforcement"].set_index("request_id")
    assert sorted(routing.index) == sorted(enforcement.index) == sorted([tricky, "plain"])
    assert routing.loc[tricky, "model"] == "NA"
    assert routing.loc[tricky, "fallback_from"] == ""
    assert routing.loc["plain", "fallback_from"] == "gpt-5.4"
    assert routing.loc[tricky, "routing_latency_ms"] == 3.0
    assert pd.isna(routing.loc["plain", "routing_latency_ms"])
    assert enforcement.loc[tricky, "violation"] == "pii, leak"
    assert pd.isna(enforcement.loc["plain", "violation"])
    assert enforcement["false_positive"].dtype == bool


def test_non_ascii_text_survives_the_csv_read(post_batch):
    events = [routing_event(request_id="réq-ü-東京", model="modèle-ß")]
    assert post_batch(events).json()["accepted"] == 1
    routing = _read_here(START, limit=10)["routing"]
    assert routing[["request_id", "model"]].to_numpy().tolist() == [["réq-ü-東京", "modèle-ß"]]


def _positions(streams: dict[str, pd.DataFrame]) -> dict[str, list[tuple[int, int]]]:
    return {
        stream: list(zip(events["xid"].tolist(), events["seq"].tolist(), strict=True))
        for stream, events in streams.items()
    }


def test_every_limit_reads_a_common_prefix_of_the_ingest_order(post_batch):
    """Whichever stream fills its limit first, the chunk is every event up to the earliest
    point where one did, from both streams, and nothing past it."""
    for batch in range(4):  # enforcement-heavy batches, then routing-heavy ones
        routing, checks = (2, 5) if batch < 2 else (5, 1)
        events = [routing_event() for _ in range(routing)]
        events += [enforcement_event() for _ in range(checks)]
        assert post_batch(events).json()["accepted"] == routing + checks
    every = _positions(_read_here(START, limit=1000))
    for limit in range(1, 13):
        full = [positions[limit - 1] for positions in every.values() if len(positions) >= limit]
        cut = min(full, default=None)
        expected = {
            stream: [p for p in positions if cut is None or p <= cut][:limit]
            for stream, positions in every.items()
        }
        assert _positions(_read_here(START, limit=limit)) == expected, limit


def test_a_floor_of_zero_reads_nothing(post_batch, monkeypatch):
    """xid_widen clamps at 0; the read's bound is then -1, which as xid8 would wrap to the
    largest id and read everything, committed or not (issue 12's loss again)."""
    assert post_batch([routing_event(), enforcement_event()]).json()["accepted"] == 2
    monkeypatch.setattr("analytics.rollups.reads.unfinished_xid_floor", lambda **_: 0)
    streams = _read_here(START, limit=10)
    assert [len(events) for events in streams.values()] == [0, 0]

"""The rollup job: new raw events become request facts and minute, hour and day rollups.

Each chunk is one transaction that reads events past the stream's watermark (in ingest order,
only from transactions that can no longer commit: analytics.rollups.reads), updates request
facts and rollups, and moves the watermark. A crash loses the whole chunk and the next run
redoes it; an advisory lock, held for the whole run, keeps two workers (or beats) from working
at once. Attempt and layer rollups of every grain add the chunk's figures, built from the
events themselves; request rollups move by each touched request's old and new contribution,
because a late enforcement event changes what its request counts as. Version rollups
(analytics.rollups.versions) are upserted: events added, first and last times kept.

Two cores are put to work: the next chunk is read on a second connection, and its price-free
work done (request deltas, layer rows, version rows), while this one is folded; and the request facts are
upserted by a helper thread while the attempt and layer rows are added to their buckets.
What each event adds is in analytics.rollups.rows, the request facts' upsert in
analytics.rollups.facts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.utils import timezone

from analytics.models import Watermark
from analytics.rollups.facts import facts_upsert
from analytics.rollups.families import (
    ATTEMPTS,
    LAYERS,
    REQUESTS,
    Family,
    Span,
    grains_deltas,
    grains_fetch,
    grains_merge,
    grains_merged,
    grains_replace,
    grains_spans,
)
from analytics.rollups.memory import arenas_limit, heap_trim
from analytics.rollups.reads import STREAMS, ReadAhead, positions_after, streams_read
from analytics.rollups.rows import (
    attempt_event_rows,
    enforcement_rows,
    request_deltas,
    routing_request_rows,
)
from analytics.rollups.versions import version_event_rows, version_grains, versions_add

ROLLUP_LOCK_KEY = 0x746F6C6C_726F6C6C  # any constant, shared by every rollup worker
# Keeps a worker under 500 MiB: peak RSS about 360 MiB when both streams fill their half of a
# chunk with late events (two chunks are in memory: one folded, the next read ahead), 215 MiB
# on the demo mix.
CHUNK_EVENTS = 100_000


@dataclass
class RollupRun:
    """What one run of the job did."""

    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    chunks: int = 0
    skipped_locked: bool = False

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


def rollups_advance(*, max_seconds: float = 50.0, chunk_events: int = CHUNK_EVENTS) -> RollupRun:
    """Fold every event committed so far into the rollups, chunk by chunk, for at most about
    `max_seconds` (the next run goes on from the watermarks).

    The run holds the rollup lock from its first chunk to its last, so the chunk read ahead
    is still what the next chunk would read; another worker skips its run meanwhile.
    """
    run = RollupRun()
    deadline = time.monotonic() + max_seconds
    with _rollup_lock_held() as held:
        if not held:
            run.skipped_locked = True
            return run
        Watermark.objects.bulk_create(  # the first run on a database starts at the beginning
            [Watermark(stream=stream) for stream in STREAMS], ignore_conflicts=True
        )
        arenas_limit(1)  # for the process: its threads' arenas would keep every chunk's peak
        ahead = ReadAhead(chunk_prepare)
        try:
            while time.monotonic() < deadline:
                processed = _chunk_process(chunk_events=chunk_events, ahead=ahead)
                heap_trim()
                if not any(processed.values()):
                    break
                for stream, count in processed.items():
                    run.events[stream] += count
                run.chunks += 1
        finally:
            ahead.close()
    return run


@contextmanager
def _rollup_lock_held() -> Iterator[bool]:
    """Hold the rollup lock for this session, if no other worker has it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ROLLUP_LOCK_KEY])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ROLLUP_LOCK_KEY])
            except DatabaseError:
                connection.close()  # a session lock must not outlive a failed run


def _chunk_process(*, chunk_events: int, ahead: ReadAhead[Chunk]) -> dict[str, int]:
    """Process the next events of both streams in one transaction; the number taken from each.
    The caller holds the rollup lock.

    Both streams are read together, so a request whose routing and enforcement events arrived
    together updates its fact (and its request rollups) once, not once per stream. The chunk
    comes from the read ahead when it read from the same watermarks (and found any), and the
    read of the next chunk starts before this one is worked on.
    """
    with transaction.atomic():
        watermarks = {w.stream: w for w in Watermark.objects.select_for_update()}
        starts = {stream: (mark.xid, mark.seq) for stream, mark in watermarks.items()}
        limit = max(1, chunk_events // len(STREAMS))
        chunk = ahead.take(starts, limit)
        if chunk is None or chunk.empty:  # an empty read ahead may be out of date
            chunk = chunk_prepare(streams_read(starts, limit))
        if not chunk.empty:
            ahead.ask(positions_after(starts, chunk.streams), limit)
        _chunk_fold(chunk)
        for stream, events in chunk.streams.items():
            if events.empty:
                continue
            last = events.iloc[-1]
            Watermark.objects.filter(stream=stream).update(
                xid=int(last["xid"]),
                seq=int(last["seq"]),
                events_processed=watermarks[stream].events_processed + len(events),
                updated_at=timezone.now(),  # update() skips auto_now
            )
        return {stream: len(events) for stream, events in chunk.streams.items()}


# --- Folding a chunk ---------------------------------------------------------------------


@dataclass
class Chunk:
    """A chunk's events, and the part of its work that needs neither the database nor prices
    (so the read-ahead thread does it, while the job works on the chunk before)."""

    streams: dict[str, pd.DataFrame]  # of enforcement events, only positions once prepared
    facts: pd.DataFrame | None = None  # per touched request, what to fold into its fact
    layer_deltas: dict[str, pd.DataFrame] | None = None  # per grain
    versions: pd.DataFrame | None = None  # version rollup rows of every grain

    @property
    def empty(self) -> bool:
        return all(events.empty for events in self.streams.values())


def chunk_prepare(streams: dict[str, pd.DataFrame]) -> Chunk:
    """The chunk of these events, with its price-free work done."""
    chunk = Chunk(streams)
    chunk.versions = version_grains(version_event_rows(streams["routing"], streams["enforcement"]))
    request_rows = []
    if not streams["routing"].empty:
        request_rows.append(routing_request_rows(streams["routing"]))
    if not streams["enforcement"].empty:
        checks, requests = enforcement_rows(streams["enforcement"])
        chunk.layer_deltas = grains_deltas(LAYERS, checks)
        request_rows.append(requests)
        # All that is left to do with them is move the watermark: keep what it needs.
        streams["enforcement"] = streams["enforcement"][["seq", "xid"]]
    if request_rows:
        chunk.facts = request_deltas(pd.concat(request_rows, ignore_index=True))
    return chunk


def _chunk_fold(chunk: Chunk) -> None:
    """Fold a chunk's events into request facts and every rollup.

    The request facts are written on the connection by a helper thread while this one sums
    the attempt rows into grains and adds the attempt and layer rows to what their buckets
    hold, which needs no database: PostgreSQL's share of the upsert then runs beside Python's
    share of the aggregation. Only then are those buckets rewritten.
    """
    if chunk.versions is not None:
        versions_add(chunk.versions)  # on this thread's connection, before the helper takes it
    if chunk.facts is None:
        return
    routing = chunk.streams["routing"]
    # Attempt rows read bands and prices, and the buckets to add to are read, on this
    # thread's connection: before the helper takes it.
    attempts = attempt_event_rows(routing) if not routing.empty else None
    spans: dict[Family, dict[str, list[Span]]] = {}
    if chunk.layer_deltas is not None:
        minutes = chunk.layer_deltas["m"]
        spans[LAYERS] = grains_spans(minutes["project_id"], minutes["bucket"])
    if attempts is not None:
        spans[ATTEMPTS] = grains_spans(attempts["project_id"], attempts["bucket"])
    stored = {family: grains_fetch(family, by_grain) for family, by_grain in spans.items()}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup-facts") as helper:
        # The wrapper itself: `connection` is a proxy that resolves in the calling thread.
        written = helper.submit(facts_upsert, chunk.facts, on=connections[DEFAULT_DB_ALIAS])
        deltas = {LAYERS: chunk.layer_deltas} if chunk.layer_deltas is not None else {}
        if attempts is not None:
            deltas[ATTEMPTS] = grains_deltas(ATTEMPTS, attempts)
        rows = {
            family: grains_merged(family, by_grain, stored[family])
            for family, by_grain in deltas.items()
        }
        contributions = written.result()
    for family, by_grain in rows.items():
        grains_replace(family, spans[family], by_grain)
    grains_merge(REQUESTS, grains_deltas(REQUESTS, contributions, weights=contributions["sign"]))

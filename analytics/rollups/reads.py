"""Reading the raw event streams in ingest order, for the rollup job.

Events are read past a stream's watermark in ingest order (transaction, then sequence:
ingestion.selectors.events_after), and only from transactions that can no longer commit, so
a read never skips a row that commits later. `ReadAhead` reads the next chunk on a second
connection (and starts work on it) while the job works on this one: PostgreSQL's share of a
read (walking the index, setting hint bits on fresh rows) then runs on the other core, beside
Python's share of the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import pandas as pd
import psycopg
from django.db import connection

from ingestion.selectors import Position, events_after
from tollgate.db.sql import Connection, execute, fetch_rows

logger = logging.getLogger(__name__)

Prepared = TypeVar("Prepared")
# Enforcement first: a request usually makes several checks, so its read usually fills the
# limit first, and the routing read then stops where it stopped (see `streams_read`).
STREAMS = ("enforcement", "routing")
LAST_SEQ = 2**63 - 1


def streams_read(
    starts: dict[str, Position],
    limit: int,
    *,
    on: Connection | None = None,
    rollup_pids: Sequence[int] = (),
) -> dict[str, pd.DataFrame]:
    """Up to `limit` events of each stream past its start, trimmed to a common prefix of the
    ingest order. Runs inside a transaction on `on` (default: this thread's Django
    connection); `rollup_pids` are the job's other sessions (see `unfinished_xid_floor`)."""
    # Every event up to `end` is committed; a stream that fills its limit brings `end` down to
    # its last event, so the streams read after it read no event that would be trimmed off.
    # Never below 0: '-1'::xid8 would wrap to the largest id, a read without bound.
    end = (max(unfinished_xid_floor(on=on, rollup_pids=rollup_pids) - 1, 0), LAST_SEQ)
    streams = {}
    for stream in STREAMS:
        streams[stream] = events = events_after(
            stream, after=starts[stream], upto=end, limit=limit, on=on
        )
        if len(events) >= limit:
            end = min(end, (int(events["xid"].iloc[-1]), int(events["seq"].iloc[-1])))
    return in_ingest_order(streams, limit)


def positions_after(
    starts: dict[str, Position], streams: dict[str, pd.DataFrame]
) -> dict[str, Position]:
    """Where each stream's next read starts once these events are taken."""
    return {
        stream: (
            (int(events["xid"].iloc[-1]), int(events["seq"].iloc[-1]))
            if not events.empty
            else starts[stream]
        )
        for stream, events in streams.items()
    }


def in_ingest_order(streams: dict[str, pd.DataFrame], limit: int) -> dict[str, pd.DataFrame]:
    """Trim the streams' reads to a common prefix of the ingest order (xid, seq).

    The sequence is shared by both raw tables. A stream that filled its limit may have more
    rows past its last one, so nothing past the earliest such last position is kept: every
    event up to the cut is then in hand, from both tables, and the rest is read next time.
    """
    cuts = [
        (int(events["xid"].iloc[-1]), int(events["seq"].iloc[-1]))
        for events in streams.values()
        if len(events) >= limit
    ]
    if not cuts:
        return streams
    xid, seq = min(cuts)
    return {
        stream: events[
            (events["xid"] < xid) | ((events["xid"] == xid) & (events["seq"] <= seq))
        ].reset_index(drop=True)
        for stream, events in streams.items()
    }


def unfinished_xid_floor(*, on: Connection | None = None, rollup_pids: Sequence[int] = ()) -> int:
    """The lowest transaction id that may still add events to this database.

    Every event of a transaction below it is committed (or rolled back for good), so reading up
    to it never skips a row that commits later. Only this database's sessions count: a long
    transaction elsewhere on the cluster must not stall the rollups (pg_snapshot_xmin would).
    The rollup job's own sessions (this one and `rollup_pids`) add no events: they do not
    count either, or each chunk would stop at the transaction of the chunk before it; nor do
    autovacuum's workers (an automatic ANALYZE takes an id too).
    """
    # The snapshot first, the sessions after it: a transaction running at the snapshot is then
    # still listed, or has ended (and a later statement's snapshot sees its rows). The session
    # list is cached for the transaction unless cleared, so clear it.
    ((next_xid,),) = fetch_rows(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", [], on=on
    )
    execute("SELECT pg_stat_clear_snapshot()", on=on)
    ((running,),) = fetch_rows(
        "SELECT ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity "
        "      WHERE datname = current_database() AND backend_xid IS NOT NULL "
        "      AND backend_type = 'client backend' "
        "      AND pid <> pg_backend_pid() AND pid <> ALL(%s::int[]))",
        [list(rollup_pids)],
        on=on,
    )
    return xid_floor(next_xid=next_xid, running=running)


XID_SPACE = 1 << 32  # pg_stat_activity shows a transaction id as its low 32 bits


def xid_widen(xid: int, *, next_xid: int) -> int:
    """The full 64-bit id of a running transaction shown by its 32-bit `xid`, given the full
    `next_xid` (the snapshot's xmax) taken at about the same moment.

    A running transaction took its id at most 2^31 ids before or after `next_xid` (xmax is the
    last completed id plus one, so ids taken since sit at or above it; wraparound protection
    keeps live ids within 2^31 of each other): the shortest signed distance modulo 2^32 finds
    it, on either side of xmax and across an epoch boundary. Never negative.
    """
    distance = (xid - next_xid) % XID_SPACE
    if distance >= XID_SPACE // 2:
        distance -= XID_SPACE
    return max(next_xid + distance, 0)


def xid_floor(*, next_xid: int, running: Sequence[int]) -> int:
    """The lowest full id among `next_xid` and the running transactions' 32-bit ids."""
    return min([next_xid, *(xid_widen(xid, next_xid=next_xid) for xid in running)])


class ReadAhead(Generic[Prepared]):
    """The next chunk's events, read on a connection of its own in a background thread and
    handed to `prepare` there (work on them that needs no database).

    `ask` starts a read; `take` returns what `prepare` made of it when asked for the same
    starts and limit, or None.
    The caller must hold the rollup lock for the whole run, so nothing it did not write itself
    (another worker's chunk, a repricing) changes the events between the read and their use.
    A read that fails turns reading ahead off for the rest of the run: the job then reads on
    its own connection, where a real outage surfaces.
    """

    def __init__(self, prepare: Callable[[dict[str, pd.DataFrame]], Prepared]) -> None:
        self._prepare = prepare
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup-read")
        self._connection: psycopg.Connection | None = None
        # Plain psycopg, without Django's session set-up: the reads need none (times come
        # back as epoch microseconds, not in a session time zone).
        self._params = connection.get_connection_params()
        connection.ensure_connection()
        self._job_pids = [connection.connection.info.backend_pid]
        self._pending: tuple[tuple[Any, ...], Future[Prepared]] | None = None
        self._broken = False

    def ask(self, starts: dict[str, Position], limit: int) -> None:
        """Start reading the chunk at `starts` (unless reading ahead is off)."""
        if not self._broken:
            self._pending = (
                self._key(starts, limit),
                self._executor.submit(self._read, starts, limit),
            )

    def take(self, starts: dict[str, Position], limit: int) -> Prepared | None:
        """The chunk read ahead, if it is the one at `starts`; None otherwise."""
        if self._pending is None:
            return None
        key, future = self._pending
        self._pending = None
        try:
            prepared = future.result()
        except psycopg.Error as error:
            logger.warning("rollup read-ahead failed, reading in turn for this run: %s", error)
            self._broken = True
            self._disconnect()
            return None
        return prepared if key == self._key(starts, limit) else None

    def close(self) -> None:
        """Wait for a read under way, then close the connection."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._disconnect()

    @staticmethod
    def _key(starts: dict[str, Position], limit: int) -> tuple[Any, ...]:
        return (tuple(sorted(starts.items())), limit)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _read(self, starts: dict[str, Position], limit: int) -> Prepared:
        if self._connection is None:
            self._connection = psycopg.connect(**self._params)
        try:
            streams = streams_read(starts, limit, on=self._connection, rollup_pids=self._job_pids)
        finally:
            self._connection.rollback()  # ends the read's transaction and its snapshot
        return self._prepare(streams)

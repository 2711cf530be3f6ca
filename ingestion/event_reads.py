"""The raw event streams read in ingest order past a position, for the rollup job (through
`ingestion.selectors.events_after`): ingestion owns the raw tables, so the SQL that names them
lives here.

The rows come back as one CSV value per read (`tollgate.db.sql.csv_aggregate`), parsed by
pandas: a read-ahead thread then holds the GIL for little more than the parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tollgate.db.sql import Connection, csv_aggregate, csv_frame, epoch_us, execute, fetch_rows

Position = tuple[int, int]  # (ingest transaction id as a 64-bit integer, sequence)

ROUTING_SQL = f"""
SELECT seq, ingest_xid::text::bigint AS xid, project_id, service_id, request_id,
       {epoch_us('"timestamp"')} AS "timestamp",
       environment, model, provider, mode, status, fallback_from, complexity_score,
       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
       latency_ms, routing_latency_ms,
       (COALESCE(reported_cost_usd, priced_cost_usd) * 100000000)::bigint AS cost_units,
       COALESCE(router_version, '') AS router_version
FROM ingestion_routingevent
WHERE (ingest_xid, seq) > (%s::text::xid8, %s) AND (ingest_xid, seq) <= (%s::text::xid8, %s)
ORDER BY ingest_xid, seq
LIMIT %s
"""
ENFORCEMENT_SQL = f"""
SELECT seq, ingest_xid::text::bigint AS xid, project_id, service_id, request_id,
       {epoch_us('"timestamp"')} AS "timestamp",
       environment, layer, policy, verdict, violation, false_positive, check_latency_ms,
       (cost_usd * 100000000)::bigint AS check_cost_units, COALESCE(mode, '') AS check_mode,
       COALESCE(policy_version, '') AS policy_version
FROM ingestion_enforcementevent
WHERE (ingest_xid, seq) > (%s::text::xid8, %s) AND (ingest_xid, seq) <= (%s::text::xid8, %s)
ORDER BY ingest_xid, seq
LIMIT %s
"""
ROUTING_COLUMNS = (
    "seq", "xid", "project_id", "service_id", "request_id", "timestamp", "environment", "model",
    "provider", "mode", "status", "fallback_from", "complexity_score", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "latency_ms",
    "routing_latency_ms", "cost_units", "router_version",
)  # fmt: skip
ENFORCEMENT_COLUMNS = (
    "seq", "xid", "project_id", "service_id", "request_id", "timestamp", "environment", "layer",
    "policy", "verdict", "violation", "false_positive", "check_latency_ms", "check_cost_units",
    "check_mode", "policy_version",
)  # fmt: skip
# Each column's type once parsed.
STREAM_TYPES = {
    "seq": "int64", "xid": "int64", "project_id": "int64", "service_id": "int64",
    "request_id": "str", "timestamp": "int64", "environment": "str", "model": "str",
    "provider": "str", "mode": "str", "status": "str", "fallback_from": "str",
    "complexity_score": "float64", "input_tokens": "int64", "output_tokens": "int64",
    "cache_read_tokens": "int64", "cache_write_tokens": "int64", "reasoning_tokens": "int64",
    "latency_ms": "float64", "routing_latency_ms": "float64", "cost_units": "Int64",
    "layer": "str", "policy": "str", "verdict": "str", "violation": "str",
    "false_positive": "bool", "check_latency_ms": "float64", "check_cost_units": "Int64",
    "check_mode": "str", "router_version": "str", "policy_version": "str",
}  # fmt: skip
NULLABLE = (
    "routing_latency_ms",
    "cost_units",
    "violation",
    "check_cost_units",
)  # elsewhere "" is a value
STREAM_QUERIES = {
    "routing": (ROUTING_SQL, ROUTING_COLUMNS),
    "enforcement": (ENFORCEMENT_SQL, ENFORCEMENT_COLUMNS),
}


def events_after(
    stream: str, *, after: Position, upto: Position, limit: int, on: Connection | None = None
) -> pd.DataFrame:
    """Up to `limit` events of `stream` ("routing" or "enforcement") past `after` and at or
    before `upto` in ingest order (transaction id, sequence), in that order: a frame of the
    stream's columns, timestamps as UTC datetimes, `cost_units` the routing cost (reported,
    else priced) in 1e-8 USD (NA when unpriced), versions "" when the event carries none.

    Runs in the caller's transaction on `on` (default: this thread's Django connection), a
    Django connection or a plain psycopg one (the rollup job's read-ahead thread).
    """
    sql, columns = STREAM_QUERIES[stream]
    # Row comparisons defeat the planner's estimates: it would sort a whole partition
    # rather than walk the (ingest_xid, seq) index for the next `limit` rows (5x slower).
    execute("SET LOCAL enable_sort = off", on=on)
    events = events_fetched(
        sql, [str(after[0]), after[1], str(upto[0]), upto[1], limit], columns, on
    )
    execute("SET LOCAL enable_sort = on", on=on)
    return events


def events_fetched(
    sql: str, params: Sequence[Any], columns: Sequence[str], on: Connection | None
) -> pd.DataFrame:
    """The query's rows, as one CSV value (see `csv_aggregate`), in ingest order."""
    text = [name for name in columns if STREAM_TYPES[name] == "str"]
    ((data,),) = fetch_rows(
        f"SELECT {csv_aggregate(columns, text, 'e')} FROM ({sql}) e", params, on=on
    )
    events = csv_frame(data, columns, STREAM_TYPES, nullable=NULLABLE, moments=("timestamp",))
    # string_agg takes the rows in the subquery's order in practice; SQL does not promise it.
    return (
        events
        if _positions_ascending(events)
        else events.sort_values(["xid", "seq"], ignore_index=True)
    )


def _positions_ascending(events: pd.DataFrame) -> bool:
    xid_steps = np.diff(events["xid"].to_numpy())
    seq_steps = np.diff(events["seq"].to_numpy())
    return bool(np.all((xid_steps > 0) | ((xid_steps == 0) & (seq_steps > 0))))

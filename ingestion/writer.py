"""Write validated rows to the raw tables: binary COPY into a staging table, then one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so a replayed event is skipped, not duplicated.

COPY is the fastest way into PostgreSQL from psycopg 3; the staging step is what lets the dedup
key decide. (Checking the keys first and copying straight into the table was tried and was
slower: the lookup depends on fresh planner statistics for each project.) Staging tables are
temporary, made once per connection; the insert empties them in the same statement.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from psycopg import adapt, postgres, pq

from ingestion.validation import ENFORCEMENT_COLUMNS, ROUTING_COLUMNS

# event_id travels as text (see ingestion.schema.event_uuid) and is cast to uuid on insert.
COMMON_TYPES = ("int8", "int8", "text", "timestamptz", "text", "text", "jsonb")
ROUTING_TYPES = (
    *COMMON_TYPES,
    "text", "text", "text", "text", "int4", "int4", "int4", "int4", "int4", "int4", "float8",
    "bool", "float8", "float8", "text", "text", "text", "text", "numeric", "numeric", "int8",
)  # fmt: skip
ENFORCEMENT_TYPES = (*COMMON_TYPES, "text", "text", "text", "text", "text", "bool", "float8")

TABLES = {
    "routing": ("ingestion_routingevent", ROUTING_COLUMNS, ROUTING_TYPES),
    "enforcement": ("ingestion_enforcementevent", ENFORCEMENT_COLUMNS, ENFORCEMENT_TYPES),
}

# psycopg connections that already hold the staging tables (temporary tables live as long as
# the session); weak, so a closed connection is simply forgotten.
_staged_connections: weakref.WeakSet[Any] = weakref.WeakSet()


class JsonbBytes(bytes):
    """A JSON document already serialized (by orjson at validation), sent as jsonb unchanged."""


class JsonbBytesBinaryDumper(adapt.Dumper):
    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj  # jsonb binary format: version 1, then the text


def _stage_name(table: str) -> str:
    return f"stage_{table}"


def _column_list(columns: Sequence[str], **replacements: str) -> str:
    return ", ".join(replacements.get(name, f'"{name}"') for name in columns)


def _raw_connection() -> Any:
    """The psycopg connection under Django's, with staging tables and the jsonb dumper."""
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _staged_connections:
        raw.adapters.register_dumper(JsonbBytes, JsonbBytesBinaryDumper)
        with raw.cursor() as cursor:
            for table, columns, _ in TABLES.values():
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_stage_name(table)} ON COMMIT DELETE ROWS "
                    f"AS SELECT {_column_list(columns, event_id='event_id::text AS event_id')} "
                    f"FROM {table} WITH NO DATA"
                )
        # Remembered once committed: a rolled-back CREATE leaves no table behind.
        transaction.on_commit(lambda: _staged_connections.add(raw))
    return raw


def rows_insert(kind: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows of one event type; return how many were new (not already stored)."""
    if not rows:
        return 0
    table, columns, types = TABLES[kind]
    stage = _stage_name(table)
    column_list = _column_list(columns)
    with _raw_connection().cursor() as cursor:
        _copy(cursor, stage, columns, types, rows)
        # Emptying the stage here, not only at commit, keeps a caller that inserts twice in one
        # transaction from offering the first batch again.
        cursor.execute(
            f"WITH staged AS (DELETE FROM {stage} RETURNING {column_list}) "
            f"INSERT INTO {table} ({column_list}) "
            f"SELECT {_column_list(columns, event_id='event_id::uuid')} FROM staged "
            "ON CONFLICT DO NOTHING"
        )
        return cursor.rowcount


def _copy(
    cursor: Any,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    column_list = ", ".join(f'"{name}"' for name in columns)
    with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        for row in _with_jsonb(rows, columns.index("attributes")):
            copy.write_row(row)


def _with_jsonb(rows: Iterable[tuple[Any, ...]], position: int) -> Iterable[tuple[Any, ...]]:
    for row in rows:
        document = row[position]
        if document is None:
            yield row
        else:
            yield (*row[:position], JsonbBytes(document), *row[position + 1 :])

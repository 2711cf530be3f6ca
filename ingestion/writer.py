"""Write validated rows to the raw tables with binary COPY, never storing an event twice.

The common batch holds only new events, so it is COPYed straight into the partitioned tables,
under a savepoint: COPY is the fastest way into PostgreSQL from psycopg 3. If any event of the
batch is already stored (a client's retry, or a concurrent request), the dedup key stops that
COPY, the savepoint is rolled back and the batch takes the path that sorts duplicates out: COPY
into temporary staging tables, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING`. Staging
tables are made once per connection; the insert empties them in the same statement.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from psycopg import adapt, postgres, pq
from psycopg.errors import UniqueViolation

from ingestion.validation import (
    ENFORCEMENT_COLUMNS,
    EVENT_ID_INDEX,
    ROUTING_COLUMNS,
    TIMESTAMP_INDEX,
)

COMMON_TYPES = ("int8", "int8", "uuid", "timestamptz", "text", "text", "jsonb")
ROUTING_TYPES = (
    *COMMON_TYPES,
    "text", "text", "text", "text", "int4", "int4", "int4", "int4", "int4", "int4", "float8",
    "bool", "float8", "float8", "text", "text", "text", "text", "numeric", "numeric", "int8", "text",
)  # fmt: skip
ENFORCEMENT_TYPES = (
    *COMMON_TYPES, "text", "text", "text", "text", "text", "bool", "float8", "numeric", "text", "text",
)  # fmt: skip

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


class UuidTextBinaryDumper(adapt.Dumper):
    """Sends a UUID kept as canonical text (ingestion.schema.event_uuid) as a binary uuid.

    COPY picks dumpers by column type, so registering this one makes every `uuid` column of a
    binary COPY on the connection take text (or `uuid.UUID`) values.
    """

    format = pq.Format.BINARY
    oid = postgres.types["uuid"].oid

    def dump(self, obj: str | uuid.UUID) -> bytes:
        if isinstance(obj, uuid.UUID):
            return obj.bytes
        return bytes.fromhex(obj.replace("-", ""))


class _UuidText(str):
    """Never built: the class under which the uuid dumper is registered."""


def _stage_name(table: str) -> str:
    return f"stage_{table}"


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)


def _raw_connection() -> Any:
    """The psycopg connection under Django's, with staging tables and the jsonb dumper."""
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _staged_connections:
        raw.adapters.register_dumper(JsonbBytes, JsonbBytesBinaryDumper)
        raw.adapters.register_dumper(_UuidText, UuidTextBinaryDumper)
        with raw.cursor() as cursor:
            for table, columns, _ in TABLES.values():
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_stage_name(table)} ON COMMIT DELETE ROWS "
                    f"AS SELECT {_column_list(columns)} FROM {table} WITH NO DATA"
                )
        # Remembered once committed: a rolled-back CREATE leaves no table behind.
        transaction.on_commit(lambda: _staged_connections.add(raw))
    return raw


def rows_insert(batch: dict[str, Sequence[tuple[Any, ...]]]) -> int:
    """Insert rows per event type (`routing`, `enforcement`); return how many were new.

    Must run inside a transaction: the fast path needs a savepoint to fall back from.
    """
    raw = _raw_connection()
    # One order for every writer, so two batches holding the same events lock the dedup key's
    # entries in the same order and cannot deadlock.
    batch = {kind: sorted(rows, key=_dedup_order) for kind, rows in batch.items()}
    try:
        with transaction.atomic(), raw.cursor() as cursor:
            for kind, rows in batch.items():
                table, columns, types = TABLES[kind]
                if rows:
                    _copy(cursor, table, columns, types, rows)
        return sum(len(rows) for rows in batch.values())
    except UniqueViolation:
        with raw.cursor() as cursor:
            return sum(_insert_staged(cursor, kind, rows) for kind, rows in batch.items() if rows)


def _dedup_order(row: tuple[Any, ...]) -> tuple[Any, Any]:
    return row[EVENT_ID_INDEX], row[TIMESTAMP_INDEX]


def _insert_staged(cursor: Any, kind: str, rows: Sequence[tuple[Any, ...]]) -> int:
    table, columns, types = TABLES[kind]
    stage = _stage_name(table)
    column_list = _column_list(columns)
    _copy(cursor, stage, columns, types, rows)
    # Emptying the stage here, not only at commit, keeps a caller that inserts twice in one
    # transaction from offering the first batch again.
    cursor.execute(
        f"WITH staged AS (DELETE FROM {stage} RETURNING {column_list}) "
        f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM staged "
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
    column_list = _column_list(columns)
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

"""Write validated rows to the raw tables: binary COPY into a staging table, then one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so a replayed event is skipped, not duplicated.

COPY is the fastest way into PostgreSQL from psycopg 3; the staging step is what lets the dedup
key decide. The staging tables are temporary, per connection, and emptied at commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from psycopg import adapt, postgres, pq

from ingestion.validation import ENFORCEMENT_COLUMNS, ROUTING_COLUMNS

COMMON_TYPES = ("int8", "int8", "uuid", "timestamptz", "text", "text", "jsonb")
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


class JsonbBytes(bytes):
    """A JSON document already serialized (by orjson at validation), sent as jsonb unchanged."""


class _JsonbBytesBinaryDumper(adapt.Dumper):
    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj  # jsonb binary format: version 1, then the text


def _raw_cursor() -> Any:
    """The psycopg cursor under Django's wrapper, knowing how to send pre-serialized jsonb."""
    connection.ensure_connection()
    raw_connection = connection.connection
    raw_connection.adapters.register_dumper(JsonbBytes, _JsonbBytesBinaryDumper)
    return raw_connection.cursor()


def rows_insert(kind: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows of one event type; return how many were new (not already stored)."""
    if not rows:
        return 0
    table, columns, types = TABLES[kind]
    stage = f"stage_{table}"
    column_list = ", ".join(f'"{name}"' for name in columns)
    with _raw_cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
            f"ON COMMIT DELETE ROWS AS SELECT {column_list} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(types))
            for row in _with_jsonb(rows, columns.index("attributes")):
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} "
            "ON CONFLICT DO NOTHING"
        )
        inserted = cursor.rowcount
        # Emptied at commit anyway; emptied now too for a caller that inserts twice per transaction.
        cursor.execute(f"TRUNCATE {stage}")
    return inserted


def _with_jsonb(rows: Iterable[tuple[Any, ...]], position: int) -> Iterable[tuple[Any, ...]]:
    for row in rows:
        document = row[position]
        if document is None:
            yield row
        else:
            yield (*row[:position], JsonbBytes(document), *row[position + 1 :])

"""Bulk database access for the rollup job: results into DataFrames (binary, or many rows as
one CSV value), binary COPY in.

Django's cursor binds parameters on the client and parses every value from text; for tens of
thousands of rows a chunk that costs more than the aggregation itself. These helpers use a
psycopg cursor with server-side binding and binary results on Django's own connection (so
they share its transaction).
"""

from __future__ import annotations

import io
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

Connection = BaseDatabaseWrapper | psycopg.Connection


@contextmanager
def _cursor(sql: str, on: Connection | None = None) -> Iterator[psycopg.Cursor]:
    """A server-binding cursor on Django's connection of this thread, on `on` (the same
    Django connection handed to a helper thread), or on a plain psycopg connection of its own.

    Statements on a Django connection are logged like Django's own when query logging is on,
    so query-count guards see these statements too.
    """
    wrapper = connection if on is None else on
    if isinstance(wrapper, psycopg.Connection):
        with psycopg.Cursor(wrapper) as cursor:
            yield cursor
        return
    wrapper.ensure_connection()
    started = time.perf_counter()
    with psycopg.Cursor(wrapper.connection) as cursor:
        yield cursor
    if wrapper.queries_logged:
        wrapper.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})


def fetch_rows(
    sql: str, params: Sequence[Any], *, on: Connection | None = None
) -> list[tuple[Any, ...]]:
    """Run a query and return its rows, read in binary."""
    with _cursor(sql, on) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def frame_query(
    sql: str, params: Sequence[Any], columns: Sequence[str], *, on: Connection | None = None
) -> pd.DataFrame:
    """Run a query and return its rows as a DataFrame with these column names."""
    return pd.DataFrame(fetch_rows(sql, params, on=on), columns=list(columns))


def execute(sql: str, params: Sequence[Any] = (), *, on: Connection | None = None) -> int:
    with _cursor(sql, on) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def copy_rows(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    binary_types: Sequence[str] | None = None,
    on: Connection | None = None,
) -> None:
    """COPY Python-typed rows into a table: binary with `binary_types`, else text.

    Text COPY picks each value's dumper by its Python type; binary picks it by column type,
    where the ingest writer registers its own dumpers for uuid and jsonb on the connection.
    So rows holding jsonb values go as text.
    """
    binary = binary_types is not None
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN" + (
        " (FORMAT BINARY)" if binary else ""
    )
    with _cursor(statement, on) as cursor, cursor.copy(statement) as copy:
        if binary_types is not None:
            copy.set_types(list(binary_types))
        for row in rows:
            copy.write_row(row)


def column_values(series: pd.Series) -> list[Any]:
    """A column as plain Python values (None for missing), ready for psycopg."""
    missing = series.isna()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = pd.Series(series.dt.to_pydatetime(), index=series.index, dtype=object)
    elif not missing.any():
        return series.tolist()
    else:
        values = series.astype(object)
    return values.where(~missing, None).tolist()


def csv_aggregate(columns: Sequence[str], text: Collection[str], alias: str) -> str:
    """An aggregate that writes the rows `alias` as CSV lines into one bytea value (NULL when
    there are none), for `csv_frame` to parse: pandas' C parser then reads them without a
    Python object per value, as fetching rows would make, or one per row, as
    `COPY ... TO STDOUT` would.

    The `text` columns are quoted (their quotes doubled) and NULL is left empty, as COPY's CSV
    does; `concat` writes NULL as nothing, where `||` would make the whole line NULL.
    """
    fields = ", ',', ".join(
        f"""'"' || replace({alias}."{name}", '"', '""') || '"'"""
        if name in text
        else f'{alias}."{name}"'
        for name in columns
    )
    return f"convert_to(string_agg(concat({fields}), E'\\n'), 'UTF8')"


def epoch_us(column: str) -> str:
    """A timestamptz column as microseconds since the epoch, a bigint: read back (see
    `csv_frame`'s `moments`) with no datetime object made per row."""
    return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"


def csv_frame(
    data: bytes | None,
    columns: Sequence[str],
    dtypes: Mapping[str, str],
    *,
    nullable: Collection[str] = (),
    moments: Collection[str] = (),
) -> pd.DataFrame:
    """The rows `csv_aggregate` wrote, with these column types; only `nullable` columns read
    an empty field as missing (elsewhere "" is a value, and "NA" is a model's name), and the
    `moments` columns, written by `epoch_us`, become UTC times."""
    frame = pd.read_csv(
        io.BytesIO(data or b""),
        names=list(columns),
        header=None,
        dtype={name: dtypes[name] for name in columns},
        keep_default_na=False,
        na_values={name: [""] for name in nullable if name in columns},
        true_values=["t"],
        false_values=["f"],
    )
    for name in moments:
        frame[name] = pd.to_datetime(frame[name], unit="us", utc=True)
    return frame

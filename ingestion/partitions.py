"""Monthly partitions of the raw event tables: created on first need, dropped past retention."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

import psycopg
from django.db import connection, transaction
from psycopg.errors import CheckViolation

PARTITIONED_TABLES = ("ingestion_routingevent", "ingestion_enforcementevent")
_PARTITION_LOCK_KEY = 0x746F6C6C_7061  # any constant; serialises partition DDL across processes
_PARTITION_NAME = re.compile(r"^(?P<table>[a-z_]+)_y(?P<year>\d{4})m(?P<month>\d{2})$")

# Months whose partitions this process has already ensured: the hot path checks a set, not the
# catalog, and runs DDL only the first time a month is seen. Another process may drop one
# (partitions_maintain after retention was shortened): a write that then finds no partition
# forgets them and retries (ingestion.services).
_known_months: set[date] = set()


def month_start(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def partitions_ensure(months: Iterable[date]) -> None:
    """Create the partitions of both raw tables for these months, if they are missing."""
    missing = sorted(set(months) - _known_months)
    if not missing:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK_KEY])
        for month in missing:
            for table in PARTITIONED_TABLES:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(table, month)} "
                    f"PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)",
                    [
                        datetime.combine(month, datetime.min.time(), tzinfo=UTC),
                        datetime.combine(_next_month(month), datetime.min.time(), tzinfo=UTC),
                    ],
                )
        # Remember them only once committed: a rolled-back DDL leaves no partition behind.
        transaction.on_commit(lambda: _known_months.update(missing))


def partitions_drop_before(cutoff: datetime) -> list[str]:
    """Drop every partition that holds only events older than `cutoff`; return their names."""
    cutoff_month = month_start(cutoff)
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK_KEY])
        cursor.execute(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = ANY(%s)",
            [list(PARTITIONED_TABLES)],
        )
        for (name,) in cursor.fetchall():
            match = _PARTITION_NAME.match(name)
            if not match:
                continue
            month = date(int(match["year"]), int(match["month"]), 1)
            if _next_month(month) <= cutoff_month:
                cursor.execute(f"DROP TABLE {name}")
                dropped.append(name)
                _known_months.discard(month)
    return dropped


def partitions_forget(*, months: Iterable[date] | None = None) -> None:
    """Forget that this process ensured these months (all of them by default), so the next
    `partitions_ensure` of one looks at the catalog again."""
    if months is None:
        _known_months.clear()
    else:
        _known_months.difference_update(months)


def partition_missing(error: BaseException) -> bool:
    """Whether a write into a raw table failed for want of its month's partition.

    PostgreSQL reports it as a check violation on the partitioned table that names no
    constraint (a real CHECK names its own); the message is translated, so it is not read.
    Takes psycopg's error or Django's wrapper of it.
    """
    cause = error if isinstance(error, psycopg.Error) else error.__cause__
    return (
        isinstance(cause, CheckViolation)
        and cause.diag.constraint_name is None
        and cause.diag.table_name in PARTITIONED_TABLES
    )

"""Migration 0005 turns JSON sketches into packed records, and back, without changing one."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analytics.rollups.sketch import sketch_from_values, sketch_unpack

pytestmark = pytest.mark.django_db(transaction=True)

JSON_SCHEMA = [("analytics", "0004_repricing")]
PACKED_SCHEMA = [("analytics", "0005_sketches_packed")]
SKETCHES = [
    sketch_from_values([0.0, 0.0, 3.5, 3.6, 9.0, 120.0, 120.1, 86_400_000.0]),
    sketch_from_values([]),
    sketch_from_values([0.0]),
    sketch_from_values([0.004, 250.0]),
]
EMPTY = {"z": 0, "i": [], "c": []}
STORED = [*(orjson.dumps(sketch).decode() for sketch in SKETCHES), "{}"]  # {}: an early default
EXPECTED = [*SKETCHES, EMPTY]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def _latest() -> list:
    """Every app's latest migration: where the tests after this one expect the schema."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _sketches() -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT check_latency_sketch FROM analytics_layerrollup ORDER BY checks")
        return [row[0] for row in cursor.fetchall()]


def test_sketches_become_packed_records_and_back(project, service):
    _migrate(JSON_SCHEMA)
    try:
        with connection.cursor() as cursor:
            for position, stored in enumerate(STORED):
                cursor.execute(
                    "INSERT INTO analytics_layerrollup (grain, bucket, project_id, service_id, "
                    "environment, layer, checks, blocks, modifies, flags, violations, "
                    "check_latency_sketch) VALUES ('m', %s, %s, %s, 'production', 'routing', "
                    "%s, 0, 0, 0, 0, %s)",
                    [
                        datetime(2026, 11, 1, 0, position, tzinfo=UTC),
                        project.pk,
                        service.pk,
                        position + 1,
                        stored,
                    ],
                )
        _migrate(PACKED_SCHEMA)
        packed = _sketches()
        assert all(isinstance(value, bytes) for value in packed)
        assert [sketch_unpack(value) for value in packed] == EXPECTED
        assert len(packed[0]) == 12 * (1 + len(SKETCHES[0]["i"]))  # zeros, then each bucket

        _migrate(JSON_SCHEMA)
        assert [orjson.loads(value) for value in _sketches()] == EXPECTED
    finally:
        _migrate(_latest())  # not 0005: later migrations (0006...) would stay unapplied

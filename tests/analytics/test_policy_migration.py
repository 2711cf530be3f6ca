"""Migration 0008 on a database whose layer rollups were made before policies: every hour that
holds them is rebuilt from its raw events, split by policy exactly as the rollup job now makes
them, and no row is left without a policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.rollups.job import rollups_advance
from governance.services import api_key_create
from tests.conftest import enforcement_event

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("analytics", "0007_outbox_failed"), ("ingestion", "0003_request_lookup_index")]
NOW = timezone.now().replace(second=0, microsecond=0)
# Layer rollups as the job made them before policies: one row per layer, from the raw events.
OLD_ROWS = """
INSERT INTO analytics_layerrollup (grain, bucket, project_id, service_id, environment, layer,
    checks, blocks, modifies, flags, violations, check_latency_sketch)
SELECT %s, date_trunc(%s, "timestamp", 'UTC'), project_id, service_id, environment, layer,
    count(*), count(*) FILTER (WHERE verdict = 'block'),
    count(*) FILTER (WHERE verdict = 'modify'), count(*) FILTER (WHERE verdict = 'flag'),
    count(violation), ''::bytea
FROM ingestion_enforcementevent GROUP BY 1, 2, 3, 4, 5, 6
"""


def _migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)


def _latest() -> list:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _events() -> list[dict]:
    """Checks of three policies at two layers over three hours, some overturned at review."""
    events = []
    for index in range(90):
        at = (NOW - timedelta(minutes=5 + index * 2)).isoformat()
        policy = ("output_safety_v2", "grounding_check", "pii_redaction")[index % 3]
        layer = "preprocess" if policy == "pii_redaction" else "verification"
        verdict = "block" if index % 7 == 0 else ("modify" if index % 11 == 0 else "allow")
        events.append(
            enforcement_event(
                timestamp=at, layer=layer, policy=policy, verdict=verdict, check_latency_ms=index
            )
        )
        if verdict != "allow" and index % 2 == 0:
            events.append(
                enforcement_event(
                    timestamp=at,
                    layer="review",
                    policy=policy,
                    verdict="allow",
                    false_positive=True,
                )
            )
    return events


def test_layer_rollups_without_policies_are_split_by_policy(post_batch, project):
    assert post_batch(_events()).json()["accepted"] > 90
    rollups_advance()
    _, raw = api_key_create(project=project, scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    window = {"from": (NOW - timedelta(hours=4)).isoformat(), "to": NOW.isoformat()}
    expected = client.get("/api/v1/metrics/policies", window).json()["rows"]
    layers = client.get("/api/v1/metrics/layers", window).json()["rows"]
    assert len(expected) == 3 and sum(row["false_positives"] for row in expected) > 0

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_layerrollup")  # the old key cannot hold policies
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            for grain, unit in (("m", "minute"), ("h", "hour"), ("d", "day")):
                cursor.execute(OLD_ROWS, [grain, unit])
                assert cursor.rowcount > 0, grain
        _migrate(_latest())
    finally:
        _migrate(_latest())

    assert client.get("/api/v1/metrics/policies", window).json()["rows"] == expected
    assert client.get("/api/v1/metrics/layers", window).json()["rows"] == layers
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_layerrollup WHERE policy = '(unrecorded)'")
        assert cursor.fetchone() == (0,)

"""The database going away under a served app: 503 with Retry-After, then recovery.

A throwaway PostgreSQL (from pgserver, on its own socket) backs a real gunicorn; the test stops
that server between two batches, then starts it again. Nothing else shares it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pgserver._commands import create_command_function
from pgserver.postgres_server import PostgresServer

from tests.services import (
    Services,
    api_key_create,
    free_port,
    gunicorn_command,
    manage,
    production_env,
    throwaway_postgres,
    wait_until_serving,
)

# pgserver makes one such function per binary at import, out of sight of type checkers.
pg_ctl = create_command_function("pg_ctl")


@pytest.fixture
def throwaway_server() -> Iterator[PostgresServer]:
    with throwaway_postgres("tg-outage-") as server:
        yield server


def _batch() -> dict:
    return {
        "batch": [
            {
                "type": "routing",
                "event_id": str(uuid.uuid4()),
                "timestamp": datetime.now(UTC).isoformat(),
                "request_id": "outage-1",
                "model": "gpt-5.4",
                "mode": "hybrid",
                "input_tokens": 10,
                "output_tokens": 5,
                "latency_ms": 100,
                "status": "ok",
            }
        ]
    }


def test_database_stopped_answers_503_then_recovers(throwaway_server, tmp_path):
    env = production_env(throwaway_server)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "create_org", "outage")
    manage(env, "create_project", "outage", "p")
    manage(env, "create_service", "outage", "p", "s")
    key = api_key_create(env, "outage", "p", service="s", scope="ingest")

    port = free_port()
    services = Services(env, tmp_path)
    gunicorn = services.start("gunicorn", gunicorn_command(port))
    try:
        url = f"http://127.0.0.1:{port}/api/v1/ingest"
        headers = {"Authorization": f"Bearer {key}"}
        wait_until_serving(url, gunicorn)
        with httpx.Client(timeout=30) as client:
            first = client.post(url, json=_batch(), headers=headers)
            assert first.status_code == 200, first.text

            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=throwaway_server.pgdata,
                user=throwaway_server.system_user,
            )
            during = _batch()
            outage = client.post(url, json=during, headers=headers)
            assert outage.status_code == 503, outage.text
            assert int(outage.headers["Retry-After"]) > 0
            assert outage.json()["code"] == "storage_unavailable"

            throwaway_server.ensure_postgres_running()
            retried = client.post(url, json=during, headers=headers)
            assert retried.status_code == 200, retried.text
            assert (
                retried.json()["accepted"] == 1
            )  # the batch refused during the outage was not half-stored
    finally:
        killed = services.stop()
    assert killed == [], f"had to be killed: {killed}"

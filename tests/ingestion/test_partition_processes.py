"""A partition dropped by one process under another that remembers making it, for real.

gunicorn (one worker, which makes the month's partition and remembers it) and a separate
`manage.py shell` (the maintenance, as the Celery worker runs it) share a throwaway
PostgreSQL (tests/services.py). The issue's sequence then ingests into the dropped month again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from pgserver.postgres_server import PostgresServer

from ingestion.partitions import month_start, partition_name
from tests.conftest import routing_event
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

INGEST = "/api/v1/ingest"
# Retention set, then partitions_maintain, as an operator and the Celery worker would.
MAINTAIN = """
from governance.models import Project
from ingestion.tasks import partitions_maintain
project = Project.objects.get(name="p")
project.retention_days = {days}
project.save()
print(" ".join(partitions_maintain()["dropped"]))
"""


@pytest.fixture
def throwaway_server() -> Iterator[PostgresServer]:
    with throwaway_postgres("tg-partitions-") as server:
        yield server


def _stored(server: PostgresServer, events: list[dict]) -> int:
    with psycopg.connect(host=str(server.pgdata), user="postgres", dbname="postgres") as db:
        [(count,)] = db.execute(
            "SELECT count(*) FROM ingestion_routingevent WHERE event_id = ANY(%s::uuid[])",
            [[event["event_id"] for event in events]],
        ).fetchall()
    return count


def test_ingest_into_a_month_another_process_dropped(throwaway_server, tmp_path):
    env = production_env(throwaway_server)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "create_org", "parts")
    manage(env, "create_project", "parts", "p")
    manage(env, "create_service", "parts", "p", "s")
    key = api_key_create(env, "parts", "p", service="s", scope="ingest")
    manage(env, "shell", "-c", MAINTAIN.format(days=90))

    moment = datetime.now(UTC) - timedelta(days=89)
    first = [routing_event(timestamp=moment.isoformat()) for _ in range(3)]
    second = [routing_event(timestamp=moment.isoformat()) for _ in range(4)]
    port = free_port()
    services = Services(env, tmp_path)
    gunicorn = services.start("gunicorn", gunicorn_command(port))
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url + INGEST, gunicorn)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, timeout=30, headers=headers) as client:
            made = client.post(INGEST, json={"batch": first})  # the worker makes the month
            assert made.status_code == 200, made.text

            dropped = manage(env, "shell", "-c", MAINTAIN.format(days=30)).split()
            assert partition_name("ingestion_routingevent", month_start(moment)) in dropped
            manage(env, "shell", "-c", MAINTAIN.format(days=90))

            again = client.post(INGEST, json={"batch": second})
            assert again.status_code == 200, again.text
            assert again.json()["accepted"] == 4
    finally:
        killed = services.stop()
    assert killed == [], f"had to be killed: {killed}\n{services.logs()}"
    assert (_stored(throwaway_server, first), _stored(throwaway_server, second)) == (0, 4)

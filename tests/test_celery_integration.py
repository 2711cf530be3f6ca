"""Celery for real: a worker and beat, as processes, fold events posted through the ingest API
into the rollups, and the metrics API shows them within the beat period.

gunicorn, the worker and beat all run with production settings on a throwaway PostgreSQL
(tests/services.py), never on the embedded default. The broker is kombu's filesystem transport
in a folder of the test's own (the embedded default's transport) or, in CI, Redis.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pgserver.postgres_server import PostgresServer

from tests.services import (
    BIN,
    ROOT,
    Services,
    api_key_create,
    free_port,
    gunicorn_command,
    manage,
    production_env,
    throwaway_postgres,
    wait_until_serving,
)

# A Redis database of the test's own: the test empties its queue before starting.
REDIS_URL = os.environ.get("TOLLGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
ARRIVAL_DEADLINE_S = 90.0  # the beat period (30 s) plus the worker's start and run, with margin
POLL_INTERVAL_S = 1.0
ORG, PROJECT, SERVICE = "celery-it", "p", "s"


@pytest.fixture
def throwaway_server() -> Iterator[PostgresServer]:
    with throwaway_postgres("tg-celery-") as server:
        yield server


def _broker_env(broker: str, tmp_path: Path) -> dict[str, str]:
    if broker == "filesystem":
        return {
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_FILESYSTEM_FOLDER": str(tmp_path / "broker"),
        }
    return {"CELERY_BROKER_URL": REDIS_URL}


def _traffic(requests: int, fallbacks: int) -> tuple[list[dict[str, Any]], int]:
    """Events of `requests` requests in the last minutes: one enforcement check each, one
    attempt each, and a failed first attempt before a fallback for `fallbacks` of them.
    Returns the events and the number of attempts."""
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    attempts = 0
    for number in range(requests):
        request_id = f"it-{uuid.uuid4().hex[:12]}"
        moment = now - timedelta(minutes=2 + number % 8, seconds=number % 60)
        models = ["gpt-5.4", "claude-opus-4.6"] if number < fallbacks else ["gpt-5.4"]
        for position, model in enumerate(models):
            fell_back = position > 0
            events.append(
                {
                    "type": "routing",
                    "event_id": str(uuid.uuid4()),
                    "timestamp": (moment + timedelta(milliseconds=300 * position)).isoformat(),
                    "request_id": request_id,
                    "model": model,
                    "mode": "hybrid",
                    "input_tokens": 800 + number,
                    "output_tokens": 200,
                    "latency_ms": 120.0 + number,
                    "status": "error" if position < len(models) - 1 else "ok",
                    "fallback_from": "gpt-5.4" if fell_back else None,
                }
            )
            attempts += 1
        events.append(
            {
                "type": "enforcement",
                "event_id": str(uuid.uuid4()),
                "timestamp": (moment - timedelta(milliseconds=20)).isoformat(),
                "request_id": request_id,
                "layer": "preprocess",
                "policy": "pii-filter",
                "verdict": "allow",
                "check_latency_ms": 4.0,
            }
        )
    return events, attempts


class Dashboard:
    """The ingest and metrics API of the served app, as a client sees them."""

    def __init__(self, client: httpx.Client, ingest_key: str, read_key: str) -> None:
        self.client = client
        self.ingest = {"Authorization": f"Bearer {ingest_key}"}
        self.read = {"Authorization": f"Bearer {read_key}"}

    def post(self, events: list[dict[str, Any]]) -> None:
        for position in range(0, len(events), 100):
            answer = self.client.post(
                "/api/v1/ingest",
                json={"batch": events[position : position + 100]},
                headers=self.ingest,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["rejected"] == 0, answer.text

    def numbers(self) -> tuple[int, int, int]:
        """(attempts, requests, checks) over the default window, the last 24 hours: the summary
        and the layers table, so that both event streams count (the job commits a chunk of
        routing events and one of enforcement events separately)."""
        summary = self.client.get("/api/v1/metrics/summary", headers=self.read)
        assert summary.status_code == 200, summary.text
        layers = self.client.get("/api/v1/metrics/layers", headers=self.read)
        assert layers.status_code == 200, layers.text
        checks = sum(row["checks"] for row in layers.json()["rows"])
        return summary.json()["attempts"], summary.json()["requests"], checks

    def wait_for(self, expected: tuple[int, int, int], services: Services) -> float:
        """Seconds until the dashboard shows `expected`; fails past the deadline or on any
        figure above it (double counting)."""
        started = time.monotonic()
        seen = self.numbers()
        while seen != expected:
            assert all(a <= b for a, b in zip(seen, expected, strict=True)), (seen, expected)
            elapsed = time.monotonic() - started
            assert elapsed < ARRIVAL_DEADLINE_S, (
                f"after {elapsed:.0f} s the dashboard shows (attempts, requests, checks) = "
                f"{seen}, expected {expected}"
            )
            services.assert_running()
            time.sleep(POLL_INTERVAL_S)
            seen = self.numbers()
        return time.monotonic() - started


def _events_processed(server: PostgresServer) -> int:
    """What the rollup job recorded in the throwaway database (so the worker worked there)."""
    with (
        psycopg.connect(host=str(server.pgdata), user="postgres", dbname="postgres") as db,
        db.cursor() as cursor,
    ):
        cursor.execute("SELECT COALESCE(sum(events_processed), 0) FROM analytics_watermark")
        row = cursor.fetchone()
        assert row is not None  # an aggregate always answers one row
        return int(row[0])


@pytest.mark.parametrize(
    "broker",
    [
        pytest.param("filesystem", id="filesystem"),
        pytest.param("redis", id="redis", marks=pytest.mark.integration),
    ],
)
def test_worker_and_beat_move_the_dashboard_numbers(broker, throwaway_server, tmp_path):
    env = production_env(throwaway_server, **_broker_env(broker, tmp_path))
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "create_org", ORG)
    manage(env, "create_project", ORG, PROJECT)
    manage(env, "create_service", ORG, PROJECT, SERVICE)
    ingest_key = api_key_create(env, ORG, PROJECT, service=SERVICE, scope="ingest")
    read_key = api_key_create(env, ORG, PROJECT, scope="read")
    celery = [str(BIN / "celery"), "-A", "tollgate"]
    if broker == "redis":  # tasks a previous run left in the queue
        subprocess.run(  # noqa: S603
            [*celery, "purge", "--force"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=True,
        )

    port = free_port()
    services = Services(env, tmp_path)
    failed = True
    try:
        gunicorn = services.start("gunicorn", gunicorn_command(port))
        services.start(
            "worker",
            [
                *celery,
                "worker",
                "--loglevel=INFO",
                "--pool=solo",
                "--concurrency=1",
                f"--hostname=tollgate-it-{uuid.uuid4().hex[:8]}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        services.start(
            "beat",
            [*celery, "beat", "--loglevel=INFO", "--schedule", str(tmp_path / "beat-schedule")],
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{base_url}/api/v1/metrics/summary", gunicorn)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            dashboard = Dashboard(client, ingest_key, read_key)
            assert dashboard.numbers() == (0, 0, 0)

            first, first_attempts = _traffic(requests=90, fallbacks=20)
            dashboard.post(first)
            first_s = dashboard.wait_for((first_attempts, 90, 90), services)

            second, second_attempts = _traffic(requests=80, fallbacks=40)
            dashboard.post(second)
            second_s = dashboard.wait_for((first_attempts + second_attempts, 170, 170), services)

        assert len(first) + len(second) == 400
        assert _events_processed(throwaway_server) == 400
        services.assert_running()
        print(f"{broker}: numbers moved after {first_s:.1f} s, then after {second_s:.1f} s")
        failed = False
    finally:
        killed = services.stop()
        if failed:
            print(services.logs())
    assert killed == [], f"had to be killed: {killed}"
    assert "Task analytics.rollup_advance[" in services.log("worker")
    assert "succeeded" in services.log("worker")
    assert "Sending due task rollup-advance (analytics.rollup_advance)" in services.log("beat")

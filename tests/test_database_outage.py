"""The database going away under a served app: 503 with Retry-After, then recovery.

A throwaway PostgreSQL (from pgserver, on its own socket) backs a real gunicorn; the test stops
that server between two batches, then starts it again. Nothing else shares it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pgserver
import pytest
from pgserver._commands import pg_ctl

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def throwaway_server() -> Iterator[pgserver.postgres_server.PostgresServer]:
    pgdata = Path(tempfile.mkdtemp(prefix="tg-outage-"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    yield server
    server.ensure_postgres_running()
    server.cleanup()


def _env(server) -> dict[str, str]:
    socket_dir = urllib.parse.quote(str(server.pgdata))
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@/postgres?host={socket_dir}",
        "SECRET_KEY": "outage-test-" + "k" * 40,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "60",
        "PYTHONPATH": str(ROOT),
    }


def _manage(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout


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


def test_database_stopped_answers_503_then_recovers(throwaway_server):
    env = _env(throwaway_server)
    _manage(env, "migrate", "--verbosity", "0")
    _manage(env, "create_org", "outage")
    _manage(env, "create_project", "outage", "p")
    _manage(env, "create_service", "outage", "p", "s")
    key = (
        _manage(env, "create_api_key", "outage", "p", "--service", "s", "--scope", "ingest")
        .strip()
        .splitlines()[-1]
    )

    port = _free_port()
    gunicorn = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "tollgate.wsgi:application",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/ingest"
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(timeout=30) as client:
            for _ in range(100):
                try:
                    first = client.post(url, json=_batch(), headers=headers)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
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
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

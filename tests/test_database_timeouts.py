"""A hung or unreachable database: 503 with Retry-After within seconds, never a hang.

gunicorn runs with production settings (tollgate/wsgi.py gives it the web's timeouts) on a
throwaway PostgreSQL that the test freezes (SIGSTOP on the postmaster and every backend) and
thaws, and on addresses where nothing answers. The HTTP client waits at most 30 s, gunicorn's
worker timeout: a hang fails the test by that bound, nothing is timed. In process, a statement
timeout on the ORM path and on the ingest's raw COPY becomes the same 503.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection
from gunicorn.config import Config
from pgserver.postgres_server import PostgresServer

from governance.keys import key_generate
from ingestion.partitions import month_start, partition_name
from tests.conftest import routing_event
from tests.services import (
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
from tollgate.db import WAIT_GRACE_S, DatabaseTimeouts, database_options, database_settings

CLIENT_TIMEOUT_S = 30  # gunicorn's worker timeout: past it the worker is killed, not answered
INGEST = "/api/v1/ingest"
ALERTS = "/api/v1/alerts"  # an authenticated read that queries the database


@pytest.fixture
def throwaway_server() -> Iterator[PostgresServer]:
    with throwaway_postgres("tg-timeouts-") as server:
        yield server


def _server_processes(server: PostgresServer) -> list[int]:
    """The postmaster's pid, then its children's (backends and helpers), from /proc."""
    postmaster = int((Path(server.pgdata) / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        with suppress(OSError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


@contextmanager
def _frozen(server: PostgresServer) -> Iterator[None]:
    """The whole server stopped (as a hung host or disk would leave it), then resumed."""
    stopped: list[int] = []
    try:
        # The postmaster first, so no backend is forked after the children are listed.
        for pid in _server_processes(server):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _events(count: int) -> list[dict[str, Any]]:
    moment = datetime.now(UTC) - timedelta(minutes=1)
    return [
        routing_event(request_id=f"hang-{number}", timestamp=moment.isoformat())
        for number in range(count)
    ]


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "storage_unavailable"


def _stored_copies(server: PostgresServer, event_ids: list[str]) -> dict[str, int]:
    with psycopg.connect(host=str(server.pgdata), user="postgres", dbname="postgres") as db:
        rows = db.execute(
            "SELECT event_id::text, count(*) FROM ingestion_routingevent "
            "WHERE event_id = ANY(%s::uuid[]) GROUP BY 1",
            [event_ids],
        ).fetchall()
    return dict(rows)


def test_frozen_database_answers_503_then_recovers_without_loss(throwaway_server, tmp_path):
    env = production_env(throwaway_server)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "create_org", "frozen")
    manage(env, "create_project", "frozen", "p")
    manage(env, "create_service", "frozen", "p", "s")
    ingest = {
        "Authorization": f"Bearer {api_key_create(env, 'frozen', 'p', service='s', scope='ingest')}"
    }
    read = {"Authorization": f"Bearer {api_key_create(env, 'frozen', 'p', scope='read')}"}

    port = free_port()
    services = Services(env, tmp_path)
    gunicorn = services.start("gunicorn", gunicorn_command(port))
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url + ALERTS, gunicorn)
        with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as client:
            assert (
                client.post(INGEST, json={"batch": _events(3)}, headers=ingest).status_code == 200
            )
            # The worker now holds a connection whose backend will be frozen mid-life.
            assert client.get(ALERTS, headers=read).status_code == 200

            retried = _events(5)
            with _frozen(throwaway_server):
                _assert_unavailable(client.get(ALERTS, headers=read))
                _assert_unavailable(client.post(INGEST, json={"batch": retried}, headers=ingest))

            after = client.post(INGEST, json={"batch": retried}, headers=ingest)
            assert after.status_code == 200, after.text
            assert after.json()["accepted"] == 5
            again = client.post(INGEST, json={"batch": retried}, headers=ingest)
            assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 5)
            assert client.get(ALERTS, headers=read).status_code == 200
    finally:
        killed = services.stop()
    assert killed == [], f"had to be killed: {killed}\n{services.logs()}"
    ids = [event["event_id"] for event in retried]
    assert _stored_copies(throwaway_server, ids) == dict.fromkeys(ids, 1)


@contextmanager
def _silent_listener() -> Iterator[int]:
    """A port whose kernel completes the handshake but where nothing ever answers (a hung
    postmaster, or a half-dead host behind a load balancer)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


@contextmanager
def _nothing(port: int) -> Iterator[int]:
    """A port where nothing listens: connections are refused."""
    yield port


@pytest.mark.parametrize("listening", [True, False], ids=["silent", "refused"])
def test_unreachable_database_answers_503(tmp_path, listening):
    with _silent_listener() if listening else _nothing(free_port()) as db_port:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{db_port}/postgres",
            "SECRET_KEY": "throwaway-test-" + "k" * 40,
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
        }
        port = free_port()
        services = Services(env, tmp_path)
        gunicorn = services.start("gunicorn", gunicorn_command(port))
        key = {"Authorization": f"Bearer {key_generate().raw}"}  # well formed: looked up
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_serving(base_url + "/no-such-page", gunicorn)  # a 404 needs no database
            with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as client:
                _assert_unavailable(client.get(ALERTS, headers=key))
                _assert_unavailable(client.post(INGEST, json={"batch": _events(1)}, headers=key))
        finally:
            killed = services.stop()
        assert killed == [], f"had to be killed: {killed}\n{services.logs()}"


# --- In process: a statement the server cancels is a 503 on both paths -------------------


@contextmanager
def _locked(table: str, mode: str) -> Iterator[None]:
    """Another session holds a lock on `table` in `mode` until the block ends."""
    params = {**connection.get_connection_params(), "autocommit": False}
    with psycopg.connect(**params) as other:
        other.execute("SET lock_timeout = '10s'")  # fail, not hang, if the test holds it
        other.execute(f"LOCK TABLE {table} IN {mode} MODE")
        yield
        other.rollback()


def _statement_timeout(milliseconds: int) -> None:
    # Session-wide: undone with the test's transaction, or by RESET in a transactional test.
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {milliseconds}")


@pytest.mark.django_db
def test_statement_timeout_on_the_orm_path_answers_503(api_client, project, caplog):
    from governance.services import api_key_create as key_create

    _, read_key = key_create(project=project, scope="read")
    _statement_timeout(300)
    with (
        _locked("analytics_alert", "ACCESS EXCLUSIVE"),
        caplog.at_level(logging.WARNING, "tollgate.middleware"),
    ):
        response = api_client.get(ALERTS, HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    (record,) = [r for r in caplog.records if r.name == "tollgate.middleware"]
    assert isinstance(record.exc_info[1].__cause__, psycopg.errors.QueryCanceled)


def _next_month(month: Any) -> Any:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


@pytest.mark.django_db(transaction=True)
def test_statement_timeout_on_the_raw_copy_answers_503_and_stores_nothing(post_batch, caplog):
    # Transactional: a test transaction that has read the parent table would hold off the
    # partition's creation by another session (it needs ACCESS EXCLUSIVE on the parent).
    event = routing_event()
    table = partition_name("ingestion_routingevent", month_start(datetime.now(UTC)))
    params = {**connection.get_connection_params(), "autocommit": True}
    with psycopg.connect(**params) as other:
        other.execute(
            f"CREATE TABLE IF NOT EXISTS {table} PARTITION OF ingestion_routingevent "
            "FOR VALUES FROM (%s) TO (%s)",
            [month_start(datetime.now(UTC)), _next_month(month_start(datetime.now(UTC)))],
        )
    _statement_timeout(300)
    try:
        # SHARE keeps writers out of the partition.
        with _locked(table, "SHARE"), caplog.at_level(logging.WARNING, "tollgate.middleware"):
            response = post_batch([event])
    finally:
        with connection.cursor() as cursor:  # the session outlives the test
            cursor.execute("RESET statement_timeout")
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    (record,) = [r for r in caplog.records if r.name == "tollgate.middleware"]
    # psycopg's own error, not Django's wrapper: it came from the writer's COPY.
    assert isinstance(record.exc_info[1], psycopg.errors.QueryCanceled)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ingestion_routingevent WHERE event_id = %s", [event["event_id"]]
        )
        assert cursor.fetchone() == (0,)


# --- Settings: what the web and the jobs get ----------------------------------------------


def test_web_answers_well_inside_the_gunicorn_worker_timeout(settings):
    web = settings.TOLLGATE_DATABASE_TIMEOUTS["web"]
    # Worst case: a held connection's health check waits out the limit, then a reconnect
    # waits out the connect timeout.
    assert web.wait_limit_s + web.connect_s <= 10 < Config().timeout
    jobs = settings.TOLLGATE_DATABASE_TIMEOUTS["jobs"]
    assert jobs.statement_s == 0 or jobs.statement_s > web.statement_s


def test_database_options_replace_earlier_timeouts_and_keep_others():
    web = DatabaseTimeouts(connect_s=3, statement_s=5, idle_in_transaction_s=60)
    jobs = DatabaseTimeouts(connect_s=3, statement_s=900, idle_in_transaction_s=900)
    given = {"sslmode": "require", "options": "-c search_path=tollgate"}
    as_web = database_options(timeouts=web, options=given)
    as_jobs = database_options(timeouts=jobs, options=as_web)
    assert as_jobs["options"] == (
        "-c search_path=tollgate -c statement_timeout=900000 "
        "-c idle_in_transaction_session_timeout=900000 -c jit=off"
    )
    assert as_jobs["sslmode"] == "require"
    assert (as_jobs["connect_timeout"], as_jobs["keepalives"]) == (3, 1)


@pytest.mark.django_db
def test_connections_compile_no_statement_just_in_time():
    # The dashboard's short reads would spend more on JIT compilation than on running.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


def test_wait_limit_follows_the_statement_timeout():
    entry = database_settings(
        timeouts=DatabaseTimeouts(connect_s=3, statement_s=5, idle_in_transaction_s=60),
        entry={"ENGINE": "django.db.backends.postgresql", "NAME": "x", "OPTIONS": {}},
    )
    assert entry["WAIT_LIMIT_S"] == 5 + WAIT_GRACE_S
    assert entry["ENGINE"] == "tollgate.db"
    unlimited = DatabaseTimeouts(connect_s=3, statement_s=0, idle_in_transaction_s=0)
    assert unlimited.wait_limit_s is None


def test_this_test_process_keeps_the_jobs_timeouts(settings):
    """No test module switches the whole run to the web's timeouts (importing tollgate.wsgi
    does): every test after it would run under a 5 s statement timeout."""
    jobs = settings.TOLLGATE_DATABASE_TIMEOUTS["jobs"]
    assert connection.settings_dict["WAIT_LIMIT_S"] == jobs.wait_limit_s
    options = connection.settings_dict["OPTIONS"]["options"]
    assert f"statement_timeout={jobs.statement_s * 1000}" in options

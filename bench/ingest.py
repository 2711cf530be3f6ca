"""Ingest throughput benchmark: the HTTP ingest path against a bare binary COPY of the same rows.

What it measures, on whatever database the settings resolve to (the embedded pgserver when
DATABASE_URL is unset):

1. HTTP ingest: N events (default 100,000; 70% routing, 30% enforcement) are generated and
   serialized into batches of 1,000 before the clock starts, then posted to `POST /api/v1/ingest`
   of a real gunicorn (2 sync workers) by 2 concurrent client threads. The wall time covers
   everything the product does per batch: authentication, rate limiting, JSON parsing,
   validation and pricing, the COPY into the partitioned tables, and the commit. The same
   batches are then posted again: every event is a duplicate, so each batch falls back to the
   staged COPY + `INSERT ... ON CONFLICT DO NOTHING` path (a client's retry storm).
2. Bare COPY: the same rows (built untimed by `batch_validate`, exactly as the ingest path builds
   them) are loaded by one psycopg 3 connection with a binary COPY into unpartitioned scratch
   tables of the same shape (same columns and defaults; a unique index on the dedup key, a BRIN
   index on `timestamp`, btrees on `(ingest_xid, seq)` and `(project_id, request_id)`),
   committing after every batch of 1,000 rows.
   This is the floor: what PostgreSQL itself costs for these rows, without any application.

The ratio ingest / COPY says how much of the database's raw write speed the application keeps.

Run: `PYTHONPATH=. .venv/bin/python bench/ingest.py [--events N]`. Each run creates its own
organization, project, service and key (names carry a timestamp), so runs never collide; the
ingested events stay in the database, the scratch tables are dropped.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from benchkit import PROJECT_ROOT, Tenant, django_setup, reference_matrix, tenant_create

INGEST_PATH = "/api/v1/ingest"
READY_PATH = "/api/schema/"
BATCH_SIZE = 1000
WORKERS = 2
CLIENTS = 2
ROUTING_SHARE = 0.7
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0
SCRATCH_PREFIX = "bench_copy_"
SCRATCH_SEQUENCE = "bench_copy_seq"
# Keys of DATABASES["default"]["OPTIONS"] that Django's backend consumes itself, not libpq.
DJANGO_ONLY_OPTIONS = frozenset({"assume_role", "isolation_level", "pool", "server_side_binding"})

USER_TIERS = ("standard", "advanced", "vip")
USER_TIER_WEIGHTS = (70, 25, 5)
STATUSES = ("ok", "error", "timeout", "rate_limited")
STATUS_WEIGHTS = (94, 3, 2, 1)
ERROR_TYPES = {"error": "upstream_5xx", "timeout": "deadline_exceeded", "rate_limited": "429"}
ROUTE_REASONS = ("complexity_band", "fallback", "override", "budget")
LAYERS = ("preprocess", "routing", "execution", "verification", "review")
POLICIES = ("pii_redaction", "prompt_injection", "toxicity", "jailbreak", "secrets_scan")
VERDICTS = ("allow", "flag", "modify", "block")
VERDICT_WEIGHTS = (85, 8, 4, 3)
SEVERITIES = ("low", "medium", "high", "critical")
ENVIRONMENTS = ("production", "staging")
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")


# --- Setup ---------------------------------------------------------------------------------


def models_of(matrix: dict[str, Any]) -> dict[str, str]:
    """Model name -> provider, from the matrix."""
    return {item["name"]: item["provider"] for item in matrix["models"]}


# --- Events --------------------------------------------------------------------------------


def routing_event(rng: random.Random, timestamp: str, models: dict[str, str]) -> dict[str, Any]:
    model = rng.choice(list(models))
    input_tokens = rng.randint(200, 12_000)
    output_tokens = rng.randint(20, 2_000)
    status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
    event: dict[str, Any] = {
        "type": "routing",
        "event_id": str(uuid.uuid4()),
        "timestamp": timestamp,
        "request_id": f"req-{uuid.uuid4().hex[:20]}",
        "environment": rng.choice(ENVIRONMENTS),
        "model": model,
        "mode": "hybrid",
        "user_tier": rng.choices(USER_TIERS, USER_TIER_WEIGHTS)[0],
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "tool_calls": rng.randint(0, 6),
        "latency_ms": round(rng.lognormvariate(6.5, 0.6), 1),
        "routing_latency_ms": round(rng.uniform(0.3, 8.0), 2),
        "status": status,
        "route_reason": rng.choice(ROUTE_REASONS),
    }
    if status != "ok":
        event["error_type"] = ERROR_TYPES[status]
    if rng.random() < 0.5:
        event["provider"] = models[model]
    if rng.random() < 0.5:
        event["complexity_score"] = round(rng.uniform(0, 100), 2)
    if rng.random() < 0.3:
        event["cache_read_tokens"] = rng.randint(0, input_tokens // 2)
    if rng.random() < 0.2:
        event["reasoning_tokens"] = rng.randint(0, output_tokens // 2)
    if rng.random() < 0.2:
        event["cost_usd"] = f"{rng.uniform(0.001, 0.2):.6f}"
    if rng.random() < 0.5:
        event["attributes"] = {"region": rng.choice(REGIONS), "tenant": f"t{rng.randint(1, 50)}"}
    return event


def enforcement_event(rng: random.Random, timestamp: str) -> dict[str, Any]:
    policy = rng.choice(POLICIES)
    verdict = rng.choices(VERDICTS, VERDICT_WEIGHTS)[0]
    event: dict[str, Any] = {
        "type": "enforcement",
        "event_id": str(uuid.uuid4()),
        "timestamp": timestamp,
        "request_id": f"req-{uuid.uuid4().hex[:20]}",
        "environment": rng.choice(ENVIRONMENTS),
        "layer": rng.choice(LAYERS),
        "policy": policy,
        "verdict": verdict,
        "false_positive": rng.random() < 0.02,
        "check_latency_ms": round(rng.uniform(0.2, 40.0), 2),
    }
    if verdict != "allow":
        event["violation"] = f"{policy}_match"
        event["severity"] = rng.choice(SEVERITIES)
    if rng.random() < 0.3:
        event["attributes"] = {"rule": f"r{rng.randint(1, 200)}"}
    return event


def events_generate(count: int, models: dict[str, str], *, seed: int = 42) -> list[dict[str, Any]]:
    """`count` events with timestamps spread over the last hour, RFC 3339 with +00:00."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events = []
    for _ in range(count):
        moment = now - timedelta(seconds=rng.uniform(1, 3600))
        timestamp = moment.isoformat(timespec="milliseconds")
        if rng.random() < ROUTING_SHARE:
            events.append(routing_event(rng, timestamp, models))
        else:
            events.append(enforcement_event(rng, timestamp))
    return events


def batches_split(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [events[start : start + size] for start in range(0, len(events), size)]


# --- HTTP ingest ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    environment["DJANGO_SETTINGS_MODULE"] = "tollgate.settings"
    return environment


def gunicorn_start(port: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        "tollgate.wsgi:application",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=child_environment())


def gunicorn_wait(process: subprocess.Popen[bytes], port: int) -> None:
    """Return once a worker answers HTTP (any status); fail if gunicorn exits or times out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode} at startup")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", READY_PATH)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise RuntimeError(f"gunicorn did not answer on port {port} within {STARTUP_TIMEOUT_S:.0f} s")


def gunicorn_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class PostOutcome:
    """What the clients saw: failures are described one per line."""

    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, accepted: int, failure: str | None) -> None:
        with self.lock:
            self.accepted += accepted
            if failure is not None:
                self.failures.append(failure)


# (batch index, batch size, HTTP status, answer body, what to expect) -> (counted, failure)
Judge = Callable[[int, int, int, bytes, str], tuple[int, str | None]]


def post_client(
    port: int,
    headers: dict[str, str],
    bodies: Sequence[bytes],
    sizes: list[int],
    work: queue.SimpleQueue[int],
    outcome: PostOutcome,
    expect: str,
    path: str = INGEST_PATH,
    judge: Judge | None = None,
) -> None:
    """One client posting batches until the queue is empty, on its own connection.

    The connection is kept alive where the server allows it; gunicorn's sync workers answer
    `Connection: close`, and http.client then reconnects for the next request by itself.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        while True:
            try:
                index = work.get_nowait()
            except queue.Empty:
                return
            try:
                connection.request("POST", path, body=bodies[index], headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()  # the next request reconnects
                outcome.record(0, f"batch {index}: {type(exc).__name__}: {exc}")
                continue
            outcome.record(
                *(judge or _judge)(index, sizes[index], response.status, payload, expect)
            )
    finally:
        connection.close()


def _judge(
    index: int, size: int, status: int, payload: bytes, expect: str
) -> tuple[int, str | None]:
    """Whether every event of the batch came back as `expect` (accepted, or duplicates)."""
    try:
        answer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        answer = None
    accepted = answer.get("accepted") if isinstance(answer, dict) else None
    counted = accepted if isinstance(accepted, int) else 0
    if status == 200 and isinstance(answer, dict) and answer.get(expect) == size:
        return counted, None
    excerpt = payload[:300].decode("utf-8", "replace")
    return counted, (f"batch {index}: HTTP {status}, accepted={accepted!r} of {size}: {excerpt}")


def http_ingest(
    port: int,
    raw_key: str,
    bodies: Sequence[bytes],
    sizes: list[int],
    expect: str = "accepted",
    *,
    path: str = INGEST_PATH,
    content_type: str = "application/json",
    judge: Judge | None = None,
) -> tuple[float, PostOutcome]:
    """Post every body from CLIENTS threads (to the JSON ingest API unless told otherwise);
    return the wall time and what they saw."""
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": content_type}
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(bodies)):
        work.put(index)
    outcome = PostOutcome()
    threads = [
        threading.Thread(
            target=post_client,
            args=(port, headers, bodies, sizes, work, outcome, expect, path, judge),
            daemon=True,
        )
        for _ in range(CLIENTS)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, outcome


# --- Bare COPY -----------------------------------------------------------------------------

RowBatch = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]  # (routing rows, enforcement rows)


def rows_build(tenant: Tenant, batches: list[list[dict[str, Any]]]) -> list[RowBatch]:
    """The rows the ingest path stores for these batches, built the way `events_ingest` does."""
    from django.conf import settings
    from django.utils import timezone

    from governance.selectors import price_book_for_project
    from ingestion.validation import IngestContext, batch_validate
    from ingestion.writer import TABLES, JsonbBytes

    project = tenant.project
    context = IngestContext(
        project_id=project.pk,
        service_id=tenant.service.pk,
        now=timezone.now(),
        retention_days=project.retention_days,
        future_skew_s=settings.TOLLGATE_INGEST_FUTURE_SKEW_S,
        token_scale=project.token_scale,
        tool_scale=project.tool_scale,
        price_book=price_book_for_project(project_id=project.pk),
    )
    position = TABLES["routing"][1].index("attributes")
    if position != TABLES["enforcement"][1].index("attributes"):
        raise RuntimeError("attributes sit at different positions in the two row shapes")

    event_id_position = TABLES["routing"][1].index("event_id")

    def jsonb(row: tuple[Any, ...]) -> tuple[Any, ...]:
        # A plain psycopg connection dumps uuid columns from uuid.UUID objects.
        row = (
            *row[:event_id_position],
            uuid.UUID(row[event_id_position]),
            *row[event_id_position + 1 :],
        )
        document = row[position]
        if document is None:
            return row
        return (*row[:position], JsonbBytes(document), *row[position + 1 :])

    built = []
    for events in batches:
        validated = batch_validate(events, context)
        if validated.rejected or validated.in_batch_duplicates:
            raise RuntimeError(f"generated events were refused: {validated.errors[:3]}")
        built.append(
            (
                [jsonb(row) for row in validated.routing.values()],
                [jsonb(row) for row in validated.enforcement.values()],
            )
        )
    return built


def psycopg_connect() -> Any:
    """A plain psycopg connection to the settings' database (HOST may be a socket folder)."""
    import psycopg
    from django.conf import settings
    from psycopg.conninfo import make_conninfo

    database = settings.DATABASES["default"]
    parameters = {
        "dbname": database["NAME"],
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "host": database.get("HOST"),
        "port": str(database["PORT"]) if database.get("PORT") else None,
    }
    conninfo = make_conninfo(**{key: value for key, value in parameters.items() if value})
    options = {
        key: value
        for key, value in database.get("OPTIONS", {}).items()
        if key not in DJANGO_ONLY_OPTIONS
    }
    return psycopg.connect(conninfo, **options)


def scratch_name(kind: str) -> str:
    return f"{SCRATCH_PREFIX}{kind}"


def scratch_create(connection: Any) -> None:
    """Unpartitioned copies of both raw tables, with the same columns, defaults and indexes."""
    from ingestion.writer import TABLES

    scratch_drop(connection)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SEQUENCE {SCRATCH_SEQUENCE}")
        for kind, (table, _columns, _types) in TABLES.items():
            scratch = scratch_name(kind)
            cursor.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING DEFAULTS)")
            # Own sequence: the bench does not consume the product's event sequence.
            cursor.execute(
                f"ALTER TABLE {scratch} ALTER COLUMN seq SET DEFAULT nextval('{SCRATCH_SEQUENCE}')"
            )
            cursor.execute(
                f"CREATE UNIQUE INDEX {scratch}_dedup "
                f'ON {scratch} (project_id, event_id, "timestamp")'
            )
            cursor.execute(f'CREATE INDEX {scratch}_ts_brin ON {scratch} USING brin ("timestamp")')
            cursor.execute(f"CREATE INDEX {scratch}_ingest_order ON {scratch} (ingest_xid, seq)")
            cursor.execute(f"CREATE INDEX {scratch}_request ON {scratch} (project_id, request_id)")
    connection.commit()


def scratch_drop(connection: Any) -> None:
    from ingestion.writer import TABLES

    with connection.cursor() as cursor:
        for kind in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {scratch_name(kind)}")
        cursor.execute(f"DROP SEQUENCE IF EXISTS {SCRATCH_SEQUENCE}")
    connection.commit()


def scratch_count(connection: Any) -> int:
    from ingestion.writer import TABLES

    with connection.cursor() as cursor:
        total = 0
        for kind in TABLES:
            cursor.execute(f"SELECT count(*) FROM {scratch_name(kind)}")
            total += cursor.fetchone()[0]
    connection.commit()
    return total


def bare_copy(connection: Any, row_batches: list[RowBatch]) -> float:
    """COPY every batch (binary, the writer's types) and commit after each; return the time."""
    from ingestion.writer import TABLES, JsonbBytes, JsonbBytesBinaryDumper

    connection.adapters.register_dumper(JsonbBytes, JsonbBytesBinaryDumper)
    statements: dict[str, tuple[str, list[str]]] = {}
    for kind, (_table, columns, types) in TABLES.items():
        column_list = ", ".join(f'"{name}"' for name in columns)
        statements[kind] = (
            f"COPY {scratch_name(kind)} ({column_list}) FROM STDIN (FORMAT BINARY)",
            [
                "uuid" if column == "event_id" else type_
                for column, type_ in zip(columns, types, strict=True)
            ],
        )
    started = time.perf_counter()
    for routing_rows, enforcement_rows in row_batches:
        with connection.cursor() as cursor:
            for kind, rows in (("routing", routing_rows), ("enforcement", enforcement_rows)):
                if not rows:
                    continue
                statement, column_types = statements[kind]
                with cursor.copy(statement) as copy:
                    copy.set_types(column_types)
                    for row in rows:
                        copy.write_row(row)
        connection.commit()
    return time.perf_counter() - started


def copy_floor(row_batches: list[RowBatch]) -> tuple[float, int]:
    """Bare COPY of the rows into fresh scratch tables (dropped after): the seconds it took
    and the rows the tables then held."""
    with psycopg_connect() as connection:
        try:
            scratch_create(connection)
            seconds = bare_copy(connection, row_batches)
            return seconds, scratch_count(connection)
        finally:
            connection.rollback()
            scratch_drop(connection)


# --- Report --------------------------------------------------------------------------------


def stored_counts(project_id: int) -> tuple[int, int]:
    from django.db import connection

    counts = []
    with connection.cursor() as cursor:
        for table in ("ingestion_routingevent", "ingestion_enforcementevent"):
            cursor.execute(f"SELECT count(*) FROM {table} WHERE project_id = %s", [project_id])
            counts.append(cursor.fetchone()[0])
    return counts[0], counts[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--events", type=int, default=100_000, help="events to send (default 100,000)"
    )
    arguments = parser.parse_args(argv)
    if arguments.events < 1:
        parser.error("--events must be at least 1")

    django_setup()
    from django.conf import settings

    database = settings.DATABASES["default"]
    print(f"database: {database['NAME']} on {database['HOST'] or 'localhost'}", flush=True)

    tenant = tenant_create("ingest", scope="ingest")
    events = events_generate(arguments.events, models_of(reference_matrix()))
    batches = batches_split(events, BATCH_SIZE)
    bodies = [orjson.dumps({"batch": batch}) for batch in batches]
    sizes = [len(batch) for batch in batches]
    megabytes = sum(len(body) for body in bodies) / 1e6
    print(
        f"generated {len(events)} events in {len(batches)} batches ({megabytes:.1f} MB of JSON) "
        f"for project {tenant.project.pk}",
        flush=True,
    )

    port = free_port()
    server = gunicorn_start(port)
    try:
        gunicorn_wait(server, port)
        http_seconds, outcome = http_ingest(port, tenant.raw_key, bodies, sizes)
        replay_seconds, replay = http_ingest(port, tenant.raw_key, bodies, sizes, "duplicates")
    finally:
        gunicorn_stop(server)

    routing_stored, enforcement_stored = stored_counts(tenant.project.pk)
    row_batches = rows_build(tenant, batches)
    row_count = sum(len(r) + len(e) for r, e in row_batches)
    copy_seconds, copied = copy_floor(row_batches)

    http_rate = len(events) / http_seconds
    copy_rate = row_count / copy_seconds
    print(
        f"ingest over HTTP (gunicorn, {WORKERS} workers, {CLIENTS} clients, "
        f"batches of {BATCH_SIZE}): {len(events)} events in {http_seconds:.2f} s "
        f"= {http_rate:,.0f} events/s"
    )
    print(
        f"bare COPY, commit every {BATCH_SIZE} rows: {row_count} rows in {copy_seconds:.2f} s "
        f"= {copy_rate:,.0f} rows/s"
    )
    print(f"ratio ingest / COPY: {http_rate / copy_rate:.2f} (target >= 0.5)")
    print(
        f"replay of the same batches (every event a duplicate, staged ON CONFLICT path): "
        f"{len(events) / replay_seconds:,.0f} events/s, ratio to COPY "
        f"{len(events) / replay_seconds / copy_rate:.2f}"
    )
    print(
        f"stored for the project: {routing_stored} routing + {enforcement_stored} enforcement "
        f"= {routing_stored + enforcement_stored} events (accepted {outcome.accepted}); "
        f"copied into scratch: {copied} rows"
    )
    failures = outcome.failures + replay.failures
    if failures:
        print(f"{len(failures)} failed batches:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
    complete = routing_stored + enforcement_stored == len(events) and copied == row_count
    return 0 if not failures and complete else 1


if __name__ == "__main__":
    sys.exit(main())

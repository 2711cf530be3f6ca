"""Rollup throughput benchmark: how many raw events per second the rollup job folds into rollups.

What it measures, on whatever database the settings resolve to (the embedded pgserver when
DATABASE_URL is unset):

1. Any backlog already in the raw tables (other projects' events the job has not seen yet) is
   rolled up first, untimed, so the measured run covers exactly this run's events.
2. N events (default 300,000) of the five demo scenarios (`tollgate.demo.traffic.scenario_events`,
   interleaved by time as if five products posted at once) over the last few days are
   spooled to a temporary file as JSON batches of 1,000, then posted through the real ingest
   API exactly as bench/ingest.py posts (gunicorn with 2 workers, 2 client threads). That
   posting is timed: it is the ingest rate the rollup is compared with, measured in the same
   run on the same events (the machine is shared and noisy, so only same-run ratios count).
3. The timed part: one `rollups_advance(max_seconds=inf)`, chunk by chunk as the Celery task
   and `manage.py run_analytics` run it: request facts, then minute, hour and day rollups with
   their latency sketches, in one transaction per chunk with the watermark (the next chunk
   read ahead, and its price-free work done, on a second connection and thread; the facts
   upserted by a helper thread).
   The bench holds the job's advisory lock from its start to its end (waiting first for a
   worker that is mid-run), so a Celery worker running at the same time (e.g. `make demo`)
   neither takes the bench's events nor skews the figure; it skips its runs meanwhile and
   catches up afterwards.

Printed: events/s of the rollup job and its chunks, the peak RSS of the process
(`ru_maxrss`) and the RSS growth during the rollup (sampled every 20 ms from /proc), and the
ratio of the rollup rate to the ingest rate of step 2; the target is a ratio of at least 1.
A check that the rollups hold every loaded event guards the figure. `--profile` runs the rollup under
cProfile and prints the top 15 functions (the rate is then not representative).

Run: `PYTHONPATH=. .venv/bin/python bench/rollup.py [--events N] [--days D]`. Each run creates
its own organization, project and service (names carry a timestamp). Unless `--keep` is given,
the run's raw events, request facts, rollup rows and tenant are deleted at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import heapq
import io
import itertools
import math
import os
import pstats
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from benchkit import Tenant, django_setup, rollup_lock, tenant_create, tenant_delete
from ingest import (
    BATCH_SIZE,
    CLIENTS,
    WORKERS,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    gunicorn_wait,
    http_ingest,
)

DEFAULT_EVENTS = 300_000
DEFAULT_DAYS = 3.0
PILOT_REQUESTS = 2_000  # per scenario, to learn how many events a request makes
RSS_SAMPLE_S = 0.02
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


# --- Setup ---------------------------------------------------------------------------------


# --- Events --------------------------------------------------------------------------------


def events_per_request(seed: int) -> dict[str, float]:
    """The mean number of events a request of each scenario makes (a small untimed pilot)."""
    from tollgate.demo.traffic import SCENARIOS, scenario_events

    rng = random.Random(seed)
    end = datetime.now(UTC)
    start = end - timedelta(hours=1)
    return {
        name: sum(
            1
            for _ in scenario_events(
                scenario, start=start, end=end, requests=PILOT_REQUESTS, rng=rng
            )
        )
        / PILOT_REQUESTS
        for name, scenario in SCENARIOS.items()
    }


def events_stream(
    count: int, start: datetime, end: datetime, seed: int
) -> Iterator[dict[str, Any]]:
    """Exactly `count` events of the five scenarios over [start, end), merged by time.

    Each scenario gets a fifth of the events; a few percent more requests are drawn than the
    pilot says are needed and the stream stops at `count`, so the latest minutes of the window
    may stay empty.
    """
    from tollgate.demo.traffic import SCENARIOS, scenario_events

    rates = events_per_request(seed + 1)
    streams = []
    for offset, (name, scenario) in enumerate(SCENARIOS.items()):
        share = count / len(SCENARIOS)
        requests = math.ceil(share / rates[name] * 1.05) + 50
        rng = random.Random(seed * 100 + offset)
        streams.append(scenario_events(scenario, start=start, end=end, requests=requests, rng=rng))
    merged = heapq.merge(*streams, key=lambda event: event["timestamp"])
    produced = 0
    for event in itertools.islice(merged, count):
        produced += 1
        yield event
    if produced < count:
        raise RuntimeError(f"the scenarios made only {produced} of {count} events")


class SpooledBodies(Sequence[bytes]):
    """Request bodies kept in a temporary file, read back on demand, so hundreds of megabytes
    of JSON do not sit in this process's memory while the rollup's RSS is measured."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()
        self._spans: list[tuple[int, int]] = []
        self.sizes: list[int] = []

    def append(self, body: bytes, size: int) -> None:
        self._spans.append((self._file.tell(), len(body)))
        self._file.write(body)
        self.sizes.append(size)

    def __len__(self) -> int:
        return len(self._spans)

    def __getitem__(self, index):
        offset, length = self._spans[index]
        return os.pread(self._file.fileno(), length, offset)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def events_spool(events: Iterator[dict[str, Any]]) -> tuple[SpooledBodies, dict[str, int]]:
    """Batches of BATCH_SIZE events as JSON bodies, spooled to disk; the count per stream."""
    bodies = SpooledBodies()
    counts = {"routing": 0, "enforcement": 0}
    while batch := list(itertools.islice(events, BATCH_SIZE)):
        for event in batch:
            counts["routing" if event["type"] == "routing" else "enforcement"] += 1
        bodies.append(orjson.dumps({"batch": batch}), len(batch))
    bodies.flush()
    return bodies, counts


def events_post(tenant: Tenant, bodies: SpooledBodies) -> float:
    """Post every body through the real ingest API (gunicorn, as bench/ingest.py does);
    return the wall time. Fails loudly if any event is not accepted."""
    port = free_port()
    server = gunicorn_start(port)
    try:
        gunicorn_wait(server, port)
        seconds, outcome = http_ingest(port, tenant.raw_key, bodies, bodies.sizes)
    finally:
        gunicorn_stop(server)
    if outcome.failures or outcome.accepted != sum(bodies.sizes):
        raise RuntimeError(f"ingest refused events: {outcome.failures[:3]}")
    return seconds


# --- Memory --------------------------------------------------------------------------------


def rss_now() -> int:
    """The resident set size of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def rss_peak() -> int:
    """The high-water mark of the RSS over the whole process life (Linux: KiB), in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Samples the RSS in a thread; `peak` is the largest value seen while it ran."""

    def __init__(self) -> None:
        self.peak = rss_now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            self.peak = max(self.peak, rss_now())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_now())


# --- Checks and cleanup --------------------------------------------------------------------


def rolled_up_counts(project_id: int) -> dict[str, int]:
    """What the minute rollups and request facts hold for the project."""
    from django.db import connection

    queries = {
        "attempts": "SELECT COALESCE(sum(attempts), 0) FROM analytics_attemptrollup "
        "WHERE project_id = %s AND grain = 'm'",
        "checks": "SELECT COALESCE(sum(checks), 0) FROM analytics_layerrollup "
        "WHERE project_id = %s AND grain = 'm'",
        "requests": "SELECT COALESCE(sum(requests), 0) FROM analytics_requestrollup "
        "WHERE project_id = %s AND grain = 'm'",
        "request_facts": "SELECT count(*) FROM analytics_requestfact WHERE project_id = %s",
        "distinct_requests": "SELECT count(*) FROM ("
        "SELECT request_id FROM ingestion_routingevent WHERE project_id = %s UNION "
        "SELECT request_id FROM ingestion_enforcementevent WHERE project_id = %s) r",
    }
    counts = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, [project_id] * sql.count("%s"))
            counts[name] = int(cursor.fetchone()[0])
    return counts


def profile_report(profiler: cProfile.Profile, limit: int = 15) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


# --- Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="events to load (default 300,000)"
    )
    parser.add_argument(
        "--days",
        type=float,
        default=DEFAULT_DAYS,
        help="the events span the last D days (default 3; at most 89)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--profile", action="store_true", help="run the rollup under cProfile, print the top 15"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's events, rollups and tenant"
    )
    arguments = parser.parse_args(argv)
    if arguments.events < 1:
        parser.error("--events must be at least 1")
    if not 0 < arguments.days < 89:
        parser.error("--days must be above 0 and below 89 (the retention window is 90 days)")

    django_setup()
    from django.conf import settings

    from analytics.rollups.job import rollups_advance

    database = settings.DATABASES["default"]
    print(f"database: {database['NAME']} on {database['HOST'] or 'localhost'}", flush=True)

    # Taken before anything else (waiting for a worker that is mid-run) and held to the end:
    # no other worker rolls up the backlog, the bench's events, or events being deleted.
    rollup_lock(take=True)
    try:
        started = time.perf_counter()
        backlog = rollups_advance(max_seconds=float("inf"))
        print(
            f"backlog rolled up first (not counted): {backlog.total_events} events in "
            f"{time.perf_counter() - started:.2f} s",
            flush=True,
        )
        tenant = tenant_create("rollup", scope="ingest")
        try:
            return _load_and_roll_up(arguments, tenant)
        finally:
            if arguments.keep:
                print(f"kept project {tenant.project.pk} ({tenant.project.name})")
            else:
                seconds = tenant_delete(tenant)
                print(f"deleted the run's events, rollups and tenant in {seconds:.2f} s")
    finally:
        rollup_lock(take=False)


def _load_and_roll_up(arguments: argparse.Namespace, tenant: Tenant) -> int:
    """Load the events, time the rollup over them, print the figures; the exit status."""
    from analytics.rollups.job import CHUNK_EVENTS, rollups_advance

    end = datetime.now(UTC)
    start = end - timedelta(days=arguments.days)
    bodies, counts = events_spool(events_stream(arguments.events, start, end, arguments.seed))
    routing, enforcement = counts["routing"], counts["enforcement"]
    loaded = routing + enforcement
    try:
        ingest_seconds = events_post(tenant, bodies)
    finally:
        bodies.close()
    ingest_rate = loaded / ingest_seconds
    print(
        f"ingest: {loaded} events ({routing} routing + {enforcement} enforcement) over the last "
        f"{arguments.days:g} days for project {tenant.project.pk}, posted through the ingest API "
        f"(gunicorn, {WORKERS} workers, {CLIENTS} clients, batches of {BATCH_SIZE}) in "
        f"{ingest_seconds:.2f} s = {ingest_rate:,.0f} events/s",
        flush=True,
    )

    del bodies
    gc.collect()
    rss_before = rss_now()
    peak_before = rss_peak()
    profiler = cProfile.Profile() if arguments.profile else None
    with RssSampler() as sampler:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        run = rollups_advance(max_seconds=float("inf"))
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
    peak_after = rss_peak()

    if run.skipped_locked:
        print("the rollup job could not take its lock: figures void", file=sys.stderr)
        return 1
    rate = run.total_events / seconds
    label = " (under cProfile: slower than real)" if profiler is not None else ""
    print(
        f"rollup{label}: {run.total_events} events ({run.events['routing']} routing + "
        f"{run.events['enforcement']} enforcement) in {run.chunks} chunks of up to "
        f"{CHUNK_EVENTS:,} in {seconds:.2f} s = {rate:,.0f} events/s"
    )
    print(
        f"memory: RSS {rss_before / MIB:.0f} MiB before the rollup, peak {sampler.peak / MIB:.0f} "
        f"MiB during it (sampled), growth {(sampler.peak - rss_before) / MIB:+.0f} MiB; "
        f"peak RSS of the process (ru_maxrss) {peak_after / MIB:.0f} MiB "
        f"({peak_before / MIB:.0f} MiB before the rollup, target < 500 MiB)"
    )
    print(
        f"rollup / ingest (same run, same events): {rate:,.0f} / {ingest_rate:,.0f} events/s = "
        f"{rate / ingest_rate:.2f} (target >= 1)"
    )
    if profiler is not None:
        print(profile_report(profiler))

    counts = rolled_up_counts(tenant.project.pk)
    complete = (
        run.total_events == loaded
        and counts["attempts"] == routing
        and counts["checks"] == enforcement
        and counts["requests"] == counts["request_facts"] == counts["distinct_requests"]
    )
    print(
        f"check: rollups hold {counts['attempts']} attempts, {counts['checks']} checks, "
        f"{counts['requests']} requests ({counts['request_facts']} request facts, "
        f"{counts['distinct_requests']} distinct request ids loaded): "
        + ("complete" if complete else "MISMATCH")
    )
    if run.total_events != loaded:
        print(
            f"the rollup processed {run.total_events} events but {loaded} were loaded "
            "(did another client ingest during the run?)",
            file=sys.stderr,
        )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())

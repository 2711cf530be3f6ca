"""Soak: several clients post while the rollups fold, for minutes; at the end the raw events
and the rollups must agree exactly, as the reconciliation task judges them (issue 12).

What runs at once, on whatever database the settings resolve to (the embedded pgserver when
DATABASE_URL is unset):
- gunicorn with 2 workers and `--clients` threads posting the five demo scenarios' traffic
  (`tollgate.demo.traffic.scenario_events`) through the real ingest API, as fast as it answers;
  a tenth of the batches is posted again later (replays: duplicates only), and each request's
  enforcement events are held back and posted a few batches after its attempts (late checks);
- `--holders` threads that keep transactions open which take transaction ids and commit them
  at random moments: the ids past xmax that once let the rollup watermark pass a transaction
  still holding events (issue 12), and ingest transactions that commit out of order;
- a folding thread running the rollup job (`rollups_advance`, as the beat's task does) every
  `--fold-every` seconds.

Then the clients stop, the holders commit, the job folds what is left, and
`analytics.rollups.reconcile.rollups_compare` checks every hour of the run's project: raw attempts,
checks, requests, tokens and cost against the rollups. Printed: events posted, accepted and
duplicates, the ingest rate, P50/P99 of the ingest answers, folds run, and the hours that differ
(exit 1 when any, or when a batch was not answered 200).

Run: `PYTHONPATH=. .venv/bin/python bench/soak.py [--minutes 3] [--clients 3] [--holders 2]`.
Each run creates its own tenant and, unless `--keep`, deletes it and its rows at the end.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from benchkit import django_setup, rollup_lock, tenant_create, tenant_delete
from ingest import (
    BATCH_SIZE,
    INGEST_PATH,
    REQUEST_TIMEOUT_S,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    gunicorn_wait,
    psycopg_connect,
)

REPLAY_SHARE = 0.1  # of the batches posted again later
LATE_CHECKS_BEHIND = 3  # batches after its attempts a request's checks are posted
HOLD_S = (0.2, 3.0)  # how long a holder keeps a transaction open


@dataclass
class Tally:
    """What the clients saw, shared between threads."""

    batches: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    answer_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, size: int, status: int, answer: Any, elapsed_ms: float) -> None:
        with self.lock:
            self.batches += 1
            self.events += size
            self.answer_ms.append(elapsed_ms)
            if status != 200 or not isinstance(answer, dict):
                self.failures.append(f"HTTP {status}: {str(answer)[:200]}")
                return
            self.accepted += answer.get("accepted", 0)
            self.duplicates += answer.get("duplicates", 0)


def batches_of_traffic(seed: int, client: int, now: datetime) -> Any:
    """Endless batches of one client's traffic: requests of the last two hours, their checks
    posted LATE_CHECKS_BEHIND batches after their attempts, and some batches posted twice."""
    from tollgate.demo.traffic import SCENARIOS, scenario_events

    rng = random.Random(seed * 1000 + client)
    scenarios = list(SCENARIOS.values())
    held: deque[list[dict[str, Any]]] = deque()
    replays: list[list[dict[str, Any]]] = []
    while True:
        scenario = rng.choice(scenarios)
        start = now - timedelta(hours=2)
        events = list(
            scenario_events(scenario, start=start, end=now, requests=BATCH_SIZE // 4, rng=rng)
        )
        attempts = [event for event in events if event["type"] == "routing"][:BATCH_SIZE]
        checks = [event for event in events if event["type"] == "enforcement"]
        held.append(checks)
        batch = attempts
        if len(held) > LATE_CHECKS_BEHIND:
            batch = batch + held.popleft()
        for start_at in range(0, len(batch), BATCH_SIZE):
            part = batch[start_at : start_at + BATCH_SIZE]
            if rng.random() < REPLAY_SHARE:
                replays.append(part)
            yield part
        if replays and rng.random() < REPLAY_SHARE:
            yield replays.pop(rng.randrange(len(replays)))


def client_run(port: int, key: str, seed: int, client: int, stop: threading.Event, tally: Tally):
    """Post batches until told to stop, each answered before the next (as a real client)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        for batch in batches_of_traffic(seed, client, datetime.now(UTC)):
            if stop.is_set():
                return
            body = orjson.dumps({"batch": batch})
            started = time.perf_counter()
            try:
                connection.request("POST", INGEST_PATH, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                with tally.lock:
                    tally.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            try:
                answer = orjson.loads(payload)
            except orjson.JSONDecodeError:
                answer = payload[:200]
            tally.record(len(batch), response.status, answer, elapsed_ms)
    finally:
        connection.close()


def holder_run(seed: int, stop: threading.Event, held: list[int]) -> None:
    """Keep a transaction open that has taken an id, commit it at a random moment, repeat."""
    rng = random.Random(seed)
    with psycopg_connect() as connection:
        while not stop.is_set():
            connection.execute("SELECT pg_current_xact_id()")
            time.sleep(rng.uniform(*HOLD_S))
            connection.commit()
            held.append(1)


def fold_run(every_s: float, stop: threading.Event, folds: list[int]) -> None:
    """Run the rollup job every `every_s` seconds, as the beat's task does."""
    from django.db import connection

    from analytics.rollups.job import rollups_advance

    try:
        while not stop.wait(every_s):
            folds.append(rollups_advance().total_events)
    finally:
        connection.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--holders", type=int, default=2)
    parser.add_argument("--fold-every", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the run's tenant and rows")
    arguments = parser.parse_args(argv)
    if arguments.minutes <= 0 or arguments.clients < 1 or arguments.holders < 0:
        parser.error("--minutes must be positive, --clients at least 1, --holders 0 or more")

    django_setup()
    from analytics.rollups.job import rollups_advance
    from analytics.rollups.reconcile import rollups_compare

    rollups_advance(max_seconds=float("inf"))  # an earlier backlog is not this run's
    tenant = tenant_create("soak", scope="ingest")
    port = free_port()
    server = gunicorn_start(port)
    stop = threading.Event()
    tally = Tally()
    folds: list[int] = []  # events each fold took in
    held: list[int] = []  # one entry per transaction a holder kept open
    threads = [
        threading.Thread(
            target=client_run,
            args=(port, tenant.raw_key, arguments.seed, client, stop, tally),
            daemon=True,
        )
        for client in range(arguments.clients)
    ]
    threads += [
        threading.Thread(target=holder_run, args=(arguments.seed + n, stop, held), daemon=True)
        for n in range(arguments.holders)
    ]
    folder = threading.Thread(target=fold_run, args=(arguments.fold_every, stop, folds))
    try:
        gunicorn_wait(server, port)
        started = time.perf_counter()
        for thread in [*threads, folder]:
            thread.start()
        time.sleep(arguments.minutes * 60)
        stop.set()
        for thread in [*threads, folder]:
            thread.join()
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        gunicorn_stop(server)

    final = rollups_advance(max_seconds=float("inf"))
    hours, differences = rollups_compare(project_ids=[tenant.project.pk])
    print(
        f"soak: {seconds:.0f} s, {arguments.clients} clients, {arguments.holders} holders "
        f"({len(held)} transactions held open and committed), folds every "
        f"{arguments.fold_every:g} s: {len(folds)} folds of {sum(folds):,} events, "
        f"then {final.total_events:,} left to fold"
    )
    print(
        f"posted {tally.events:,} events in {tally.batches:,} batches: {tally.accepted:,} "
        f"accepted, {tally.duplicates:,} duplicates = {tally.events / seconds:,.0f} events/s; "
        f"ingest answer P50 {percentile(tally.answer_ms, 0.5):.0f} ms, "
        f"P99 {percentile(tally.answer_ms, 0.99):.0f} ms, "
        f"mean {statistics.fmean(tally.answer_ms or [0]):.0f} ms"
    )
    print(f"reconciliation: {hours} hours checked, {len(differences)} differ")
    for difference in differences:
        print(f"  {difference.hour:%Y-%m-%d %H:00}: {difference.figures_json()}")
    for failure in tally.failures[:10]:
        print(f"  failed batch: {failure}")
    if not arguments.keep:
        rollup_lock(True)
        try:
            tenant_delete(tenant)
        finally:
            rollup_lock(False)
    return 1 if differences or tally.failures or not hours else 0


if __name__ == "__main__":
    sys.exit(main())

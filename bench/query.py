"""Metrics API latency benchmark: P50 / P95 of each endpoint for a 30-day window, at 1/10 of the
events and at all of them, to show that reads cost the same however many raw events there are.

What it measures, on whatever database the settings resolve to (the embedded pgserver when
DATABASE_URL is unset):

1. A new organization and project (names carry a timestamp) with the reference matrix and one
   service per demo scenario, and a read-scoped API key.
2. Small size: `--small-fraction` of `--events` (default 1,000,000 of 10,000,000) is generated
   over the last 30 days and loaded with the writer's binary COPY (`rows_insert`), one
   transaction per chunk of 100,000 events, so memory stays bounded. The rows are built
   directly in the column order of the raw tables (building 10 million event dicts and
   validating them would take far longer than the rest of the run), following the demo
   scenarios of `tollgate.demo.traffic`: per request, checks at the scenario's layers before the
   model (3-10 ms each), one attempt on a model of the scenario's mix (latency 120-550 ms,
   about 0.8% failures, most retried on another model), checks after the model, and sometimes
   a review minutes to hours later; a few percent of requests are blocked, modified or
   flagged; attempts are priced with the project's price book exactly as ingest prices them;
   the router and each policy carry a version that rolls out every 5 days (ROLLOUT_EVERY_US).
   A request's routing and enforcement events share its request id.
3. The rollup job (`rollups_advance`, chunk by chunk as the Celery task runs it) folds the new
   events into rollups; its time and rate are printed (reported in slices of about a minute).
   Then the tables read are vacuumed and analyzed, as autovacuum does soon after such a load
   (its insert threshold): fresh statistics, and a visibility map that lets the covering
   indexes answer without visiting the table; a checkpoint then writes what the load dirtied,
   so no checkpoint competes with the timed reads.
4. The process's heap is settled as the WSGI entry point settles a serving process's
   (`tollgate.heap`: everything alive is frozen out of the garbage collector's walks), so a
   call that triggers a full collection pays for what requests allocate, not for a walk of
   the bench's own objects. Each endpoint is called through Django's test client with the
   read key as Bearer, for the window [now - 30 days, now) taken to the minute: 3 warm-up
   calls, then `--calls` (50) timed ones, each timed from request to rendered response. Then
   each dashboard page the same way, signed in as an ops member of the run's organization,
   with the range "30 d".
5. Large size: the rest of the events, generated over the same 30 days (so the same window
   holds 10 times as many events), loaded, rolled up and measured the same way.

Printed: both sizes side by side and the ratio P95(large) / P95(small) per endpoint and page.
The targets: P95 under 100 ms for the API and 150 ms for the pages, and a ratio near 1 (query
time does not grow with raw events).

The run holds the rollup job's advisory lock while it loads and rolls up, so a Celery worker
running at the same time (e.g. `make demo`) neither takes the bench's events nor skews the
rollup figures; it waits, then catches up. `--rollup-budget` stops a run whose rollup takes
too long (the figures of the sizes completed are printed). Unless `--keep` is given, the run's
raw events, request facts, rollup rows and tenant are deleted at the end (also on Ctrl-C or
SIGTERM).

Run: `PYTHONPATH=. .venv/bin/python bench/query.py [--events N] [--small-fraction F]`
(10 million events take many minutes; `--events 1000000` is a quick check).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gc
import math
import random
import signal
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governance.models import Service
    from governance.pricing import PriceBook
    from tollgate.demo.traffic import Scenario

from benchkit import (
    CLEANUP_TABLES,
    PROJECT_ROOT,
    Tenant,
    django_setup,
    rollup_lock,
    tenant_create,
    tenant_delete,
)

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from tollgate.demo import traffic

DEFAULT_EVENTS = 10_000_000
DEFAULT_SMALL_FRACTION = 0.1
WINDOW = timedelta(days=30)
CHUNK_EVENTS = 100_000
PROGRESS_S = 60.0  # the rollup is reported in slices of about this long
PROGRESS_LOAD_S = 15.0
WARMUP_CALLS = 3
DEFAULT_CALLS = 50
STAGING_SHARE = 0.1  # requests from the staging environment
PILOT_REQUESTS = 20_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECONDS = 1_000_000
PROJECT_NAMED = "{project}"  # a parameter filled with the run's project name
ENDPOINTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("summary", "/api/v1/metrics/summary", {}),
    ("models", "/api/v1/metrics/models", {}),
    ("layers", "/api/v1/metrics/layers", {}),
    ("policies", "/api/v1/metrics/policies", {}),
    (
        "timeseries",
        "/api/v1/metrics/timeseries",
        {"metric": "attempts", "interval": "day", "group_by": "model"},
    ),
    ("drift", "/api/v1/drift", {}),
    ("compare", "/api/v1/compare", {}),
    ("rollouts", "/api/v1/rollouts", {}),
    ("advice", "/api/v1/advice", {"project": PROJECT_NAMED}),
)
# The dashboard's pages, signed in as an ops user, over the last 30 days (target P95 < 150 ms).
PAGES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("overview", "/dashboard/", {}),
    ("reliability", "/dashboard/reliability/", {}),
    ("enforcement", "/dashboard/enforcement/", {}),
    ("routing", "/dashboard/routing/", {}),
    ("cost", "/dashboard/cost/", {}),
    ("alerts", "/dashboard/alerts/", {}),
    ("architectures", "/dashboard/architectures/", {}),
)
API_TARGET_MS = 100.0
PAGE_TARGET_MS = 150.0
# The router and each policy roll out a new version every 5 days (each at its own time), the
# old version answering a share of the events that tapers off over the next 10 minutes.
ROLLOUT_EVERY_US = 5 * 86_400 * MICROSECONDS
MIXING_US = 10 * 60 * MICROSECONDS
STRAGGLER_SHARE = 0.3
# --- Setup ---------------------------------------------------------------------------------


# --- Rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A scenario of tollgate.demo.traffic, prepared for fast row building."""

    scenario: Scenario
    service_id: int
    attributes: bytes
    pre_layers: tuple[str, ...]
    post_layers: tuple[str, ...]
    checked: tuple[str, ...]  # where a finding can happen
    reviewed: bool
    models: tuple[str, ...]
    model_cumulative: tuple[float, ...]
    tier_cumulative: tuple[float, ...]


def plans_build(services: dict[str, Service]) -> list[Plan]:
    """One plan per scenario; `services` are named after the scenarios' projects."""
    import orjson

    from tollgate.demo.traffic import POST_MODEL_LAYERS, PRE_MODEL_LAYERS, REVIEW, SCENARIOS

    plans = []
    for scenario in SCENARIOS.values():
        pre = tuple(layer for layer in PRE_MODEL_LAYERS if layer in scenario.layers)
        post = tuple(layer for layer in POST_MODEL_LAYERS if layer in scenario.layers)
        plans.append(
            Plan(
                scenario=scenario,
                service_id=services[scenario.project].pk,
                attributes=orjson.dumps({"scenario": scenario.project}),
                pre_layers=pre,
                post_layers=post,
                checked=pre + post,
                reviewed=REVIEW in scenario.layers,
                models=tuple(model for model, _ in scenario.model_shares),
                model_cumulative=tuple(accumulate(share for _, share in scenario.model_shares)),
                tier_cumulative=tuple(accumulate(scenario.tier_weights)),
            )
        )
    return plans


class RowMaker:
    """Builds the raw-table rows of whole requests (`ingestion.validation` column order).

    Mirrors `tollgate.demo.traffic`'s request model, with tuples instead of event dicts, datetimes
    instead of strings, and event ids as 32 random hex digits (the writer sends them as uuid).
    """

    def __init__(self, project_id: int, plans: list[Plan], book: PriceBook, seed: int) -> None:
        from governance.pricing import cost_usd

        self.project_id = project_id
        self.plans = plans
        self.book = book
        self.rng = random.Random(seed)
        self.cost_usd = cost_usd
        self.severity_cumulative = {
            verdict: tuple(accumulate(weights))
            for verdict, weights in traffic.SEVERITY_WEIGHTS.items()
        }
        # The request being built.
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.clock = self.last_us = 0
        self.head: tuple[Any, ...] = ()

    def _pick(self, options: tuple[Any, ...] | list[Any]) -> Any:
        return options[int(self.rng.random() * len(options))]

    def _weighted(self, options: tuple[Any, ...], cumulative: tuple[float, ...]) -> Any:
        index = bisect.bisect(cumulative, self.rng.random() * cumulative[-1])
        return options[min(index, len(options) - 1)]

    def _version(self, component: str) -> str:
        """The version of `component` an event at the clock carries (see ROLLOUT_EVERY_US)."""
        offset = zlib.crc32(component.encode()) % ROLLOUT_EVERY_US
        rollout, since = divmod(self.clock + offset, ROLLOUT_EVERY_US)
        if since < MIXING_US and self.rng.random() < STRAGGLER_SHARE * (1 - since / MIXING_US):
            rollout -= 1
        return f"{component}-{rollout}"

    def _advance(self, delay_ms: float) -> datetime:
        """The moment `delay_ms` after the previous event, never past the window."""
        self.clock = min(self.clock + int(delay_ms * 1000), self.last_us)
        return EPOCH + timedelta(microseconds=self.clock)

    def request(self, plan: Plan, at_us: int, end_us: int) -> list[tuple[str, tuple[Any, ...]]]:
        """The events of one request starting at `at_us` (microseconds since the epoch), as
        (kind, row) in time order, none at or after `end_us`."""
        rng, s = self.rng, plan.scenario
        self.events = []
        self.clock, self.last_us = at_us, end_us - 1
        environment = "staging" if rng.random() < STAGING_SHARE else "production"
        request_id = f"req-{rng.getrandbits(128):032x}"
        self.head = (self.project_id, plan.service_id, request_id, environment)

        roll = rng.random()
        verdict = "allow"
        if roll < s.block_rate:
            verdict = "block"
        elif roll < s.block_rate + s.modify_rate:
            verdict = "modify"
        elif roll < s.block_rate + s.modify_rate + s.flag_rate:
            verdict = "flag"
        where = self._pick(plan.checked) if plan.checked and verdict != "allow" else None
        violation = None
        if verdict == "flag" or (verdict != "allow" and rng.random() < 0.9):
            violation = self._pick(s.violations)

        for layer in plan.pre_layers:
            self._check(layer, verdict if layer == where else "allow", violation)
            if layer == where and verdict == "block":
                self._review(plan, verdict, delivered=False)
                return self.events
        delivered = self._attempts(plan)
        for layer in plan.post_layers:
            self._check(layer, verdict if layer == where else "allow", violation)
            if layer == where and verdict == "block":
                delivered = False
                break
        self._review(plan, verdict, delivered=delivered)
        return self.events

    def _enforcement(
        self,
        moment: datetime,
        layer: str,
        verdict: str,
        violation: str | None,
        severity: str | None,
        false_positive: bool,
        latency: float,
        policy: str,
    ) -> None:
        project_id, service_id, request_id, environment = self.head
        row = (
            project_id,
            service_id,
            f"{self.rng.getrandbits(128):032x}",
            moment,
            request_id,
            environment,
            None,
            layer,
            policy,
            verdict,
            violation,
            severity,
            false_positive,
            latency,
            None,  # cost_usd: the checks report none, the project's check cost applies
            None,  # mode: a request's mode comes from its attempts
            self._version(policy),  # policy_version
        )
        self.events.append(("enforcement", row))

    def _check(self, layer: str, verdict: str, violation: str | None) -> None:
        latency = round(self.rng.uniform(3, 10), 2)
        moment = self._advance(latency)
        found = verdict != "allow" and violation is not None
        self._enforcement(
            moment,
            layer,
            verdict,
            violation if found else None,
            self._severity(verdict) if found else None,
            False,
            latency,
            self._pick(traffic.LAYER_POLICIES[layer]),
        )

    def _severity(self, verdict: str) -> str:
        return self._weighted(traffic.SEVERITIES, self.severity_cumulative[verdict])

    def _attempts(self, plan: Plan) -> bool:
        """The model call, and a fallback call on another model when the first one fails;
        whether the last one succeeded."""
        rng = self.rng
        model = self._weighted(plan.models, plan.model_cumulative)
        tier = self._weighted(traffic.TIERS, plan.tier_cumulative)
        status = self._attempt(plan, model, tier, fallback_from=None)
        others = [name for name in plan.models if name != model]
        if status == "ok" or not others or rng.random() >= traffic.FALLBACK_RATE:
            return status == "ok"
        return self._attempt(plan, self._pick(others), tier, fallback_from=model) == "ok"

    def _attempt(self, plan: Plan, model: str, tier: str, fallback_from: str | None) -> str:
        rng, s = self.rng, plan.scenario
        low, high = s.latency_ms
        status, error_type = "ok", ""
        if fallback_from is None and rng.random() < s.error_rate:
            status, error_type = self._pick(traffic.FAILURES)
        latency = high if status == "timeout" else rng.triangular(low, high, low + (high - low) / 3)
        moment = self._advance(latency)
        banded = (
            model
            if rng.random() >= traffic.MISROUTE_RATE
            else self._pick(tuple(traffic.MODEL_SCORES))
        )
        score_low, score_high = self._pick(traffic.MODEL_SCORES[banded])
        (input_low, input_high), (output_low, output_high) = traffic.MODEL_TOKENS[model]
        input_tokens = rng.randint(input_low, input_high)
        ok = status == "ok"
        output_tokens = rng.randint(output_low, output_high) if ok else 0
        tool_calls = rng.randint(0, s.max_tool_calls) if ok else 0
        cache_read = rng.randint(0, input_tokens // 2) if rng.random() < 0.3 else 0
        entry = self.book.entry(model)
        price = entry.price_at(moment) if entry is not None else None
        priced = (
            self.cost_usd(
                price=price,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cache_read,
            )
            if price is not None
            else None
        )
        project_id, service_id, request_id, environment = self.head
        row = (
            project_id,
            service_id,
            f"{rng.getrandbits(128):032x}",
            moment,
            request_id,
            environment,
            plan.attributes,
            model,
            traffic.PROVIDERS[model],
            s.mode,
            tier,
            input_tokens,
            output_tokens,
            tool_calls,
            cache_read,
            0,  # cache_write_tokens
            0,  # reasoning_tokens
            round(rng.uniform(score_low, score_high - 0.01), 2),
            False,  # complexity_computed
            round(latency, 1),
            round(rng.uniform(1, 5), 2),
            status,
            error_type,
            fallback_from or "",
            "fallback" if fallback_from else "complexity_band",
            None,  # reported_cost_usd
            priced,
            price.id if price is not None else None,
            self._version("router"),  # router_version
        )
        self.events.append(("routing", row))
        return status

    def _review(self, plan: Plan, verdict: str, *, delivered: bool) -> None:
        """A post-delivery review: overturns a false positive, finds an escape, or audits."""
        if not plan.reviewed:
            return
        rng, s = self.rng, plan.scenario
        false_positive, finding, violation, severity = False, "allow", None, None
        if verdict in ("block", "modify") and rng.random() < s.false_positive_rate:
            false_positive = True
        elif delivered and rng.random() < s.escaped_violation_rate:
            finding, violation, severity = "flag", self._pick(s.violations), self._severity("block")
        elif not (delivered and rng.random() < s.review_sample_rate):
            return
        moment = self._advance(rng.uniform(30_000, 7_200_000))  # minutes to hours later
        latency = round(rng.uniform(3, 10), 2)
        policy = traffic.LAYER_POLICIES[traffic.REVIEW][0]
        self._enforcement(
            moment, traffic.REVIEW, finding, violation, severity, false_positive, latency, policy
        )


def events_per_request(maker: RowMaker, seed: int) -> float:
    """The mean number of events a request makes over the scenario mix (an untimed pilot)."""
    pilot = RowMaker(maker.project_id, maker.plans, maker.book, seed)
    start_us = int(datetime.now(UTC).timestamp() * MICROSECONDS)
    total = sum(
        len(pilot.request(pilot._pick(pilot.plans), start_us, start_us + 10**12))
        for _ in range(PILOT_REQUESTS)
    )
    return total / PILOT_REQUESTS


def slice_rows(
    maker: RowMaker, target: int, lo_us: int, hi_us: int, end_us: int, per_request: float
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Exactly `target` events of requests starting in [lo_us, hi_us): (routing, enforcement)."""
    rng = maker.rng
    routing: list[tuple[Any, ...]] = []
    enforcement: list[tuple[Any, ...]] = []
    made = 0
    while made < target:
        count = max(1, round((target - made) / per_request))
        for start in sorted(rng.randrange(lo_us, hi_us) for _ in range(count)):
            for kind, row in maker.request(maker._pick(maker.plans), start, end_us):
                (routing if kind == "routing" else enforcement).append(row)
                made += 1
                if made == target:
                    return routing, enforcement
    return routing, enforcement


def months_between(start: datetime, end: datetime) -> list[date]:
    months = []
    month = date(start.year, start.month, 1)
    while month <= end.date():
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


@dataclass
class Loaded:
    routing: int = 0
    enforcement: int = 0

    @property
    def total(self) -> int:
        return self.routing + self.enforcement


def events_load(
    maker: RowMaker, count: int, start: datetime, end: datetime, per_request: float, label: str
) -> tuple[Loaded, float]:
    """Load `count` events over [start, end), chunk after chunk in time order."""
    from django.db import transaction

    from ingestion.writer import rows_insert

    loaded = Loaded()
    start_us = int(start.timestamp() * MICROSECONDS)
    end_us = int(end.timestamp() * MICROSECONDS)
    chunks = math.ceil(count / CHUNK_EVENTS)
    width = (end_us - start_us) / chunks
    started = last_report = time.perf_counter()
    for index in range(chunks):
        target = min(CHUNK_EVENTS, count - loaded.total)
        lo = start_us + int(index * width)
        hi = start_us + int((index + 1) * width) if index < chunks - 1 else end_us
        routing, enforcement = slice_rows(maker, target, lo, hi, end_us, per_request)
        with transaction.atomic():
            stored = rows_insert({"routing": routing, "enforcement": enforcement})
        if stored != target:
            raise RuntimeError(f"{target - stored} events of a chunk were not stored")
        loaded.routing += len(routing)
        loaded.enforcement += len(enforcement)
        del routing, enforcement
        now = time.perf_counter()
        if now - last_report >= PROGRESS_LOAD_S or index == chunks - 1:
            last_report = now
            print(
                f"  [{label}] loaded {loaded.total:,} / {count:,} events "
                f"({loaded.total / count:.0%}) in {now - started:.0f} s, "
                f"{loaded.total / (now - started):,.0f} events/s",
                flush=True,
            )
    return loaded, time.perf_counter() - started


# --- Rollup --------------------------------------------------------------------------------


@dataclass
class RollupOutcome:
    events: int
    chunks: int
    seconds: float
    complete: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rollup_run(expected: int, label: str, budget_s: float) -> RollupOutcome:
    """Run the rollup job until no event is left (or the budget is spent), reporting progress.

    The job is called in slices of about PROGRESS_S with the same chunking as one call with
    max_seconds=inf: each call goes on from the watermark.
    """
    from analytics.rollups.job import rollups_advance

    events = chunks = 0
    started = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - started
        if elapsed >= budget_s:
            return RollupOutcome(events, chunks, elapsed, complete=False)
        run = rollups_advance(max_seconds=min(PROGRESS_S, budget_s - elapsed))
        if run.skipped_locked:
            raise RuntimeError("another worker holds the rollup lock")
        events += run.total_events
        chunks += run.chunks
        elapsed = time.perf_counter() - started
        if run.total_events == 0:
            return RollupOutcome(events, chunks, elapsed, complete=True)
        print(
            f"  [{label}] rolled up {events:,} / {expected:,} events in {elapsed:.0f} s, "
            f"{events / elapsed:,.0f} events/s, {chunks} chunks",
            flush=True,
        )


def tables_vacuum() -> float:
    """Vacuum and analyze the tables the reads touch, as autovacuum does within a minute or so
    of a load this size, so the figures are of steady state (plans made with fresh statistics,
    index-only scans on an up-to-date visibility map), then checkpoint: the pages the load and
    the vacuum dirtied are written now, not by a checkpoint in the middle of the timed reads.
    Return the time."""
    from django.db import connection
    from django.db.utils import ProgrammingError

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in CLEANUP_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        # Not a superuser (nor pg_checkpoint): the server checkpoints on its own schedule.
        with contextlib.suppress(ProgrammingError):
            cursor.execute("CHECKPOINT")
    return time.perf_counter() - started


def rollup_rows(project_id: int) -> dict[str, int]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for family in ("attempt", "request", "layer"):
            cursor.execute(
                f"SELECT grain, count(*) FROM analytics_{family}rollup "
                "WHERE project_id = %s GROUP BY grain",
                [project_id],
            )
            for grain, count in cursor.fetchall():
                counts[f"{family} {grain}"] = count
    return counts


# --- Endpoints -----------------------------------------------------------------------------


def nearest_rank(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


@dataclass(frozen=True)
class Latency:
    p50: float
    p95: float
    mean: float


def _named(params: dict[str, str], tenant: Tenant) -> dict[str, str]:
    return {
        name: tenant.project.name if value == PROJECT_NAMED else value
        for name, value in params.items()
    }


def endpoints_measure(
    tenant: Tenant, window: tuple[datetime, datetime], calls: int
) -> tuple[dict[str, Latency], dict[str, Any]]:
    """P50 / P95 / mean in ms per endpoint and page, and the summary's answer (for a sanity
    check). The API is called with the read key, the pages as a signed-in ops user."""
    from django.test import Client

    api = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {tenant.raw_key}")
    pages = Client(SERVER_NAME="localhost")
    pages.force_login(tenant.user)
    api_window = {"from": window[0].isoformat(), "to": window[1].isoformat()}
    page_window = {"range": "30d"}
    calls_of = [
        *(
            (name, api, path, {**api_window, **_named(params, tenant)})
            for name, path, params in ENDPOINTS
        ),
        *((name, pages, path, {**page_window, **params}) for name, path, params in PAGES),
    ]
    results = {}
    summary: dict[str, Any] = {}
    for name, client, path, query in calls_of:
        timings = []
        for call in range(WARMUP_CALLS + calls):
            started = time.perf_counter()
            response = client.get(path, query)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(
                    f"{path}: HTTP {response.status_code}: {response.content[:300]!r}"
                )
            if call >= WARMUP_CALLS:
                timings.append(elapsed)
        if name == "summary":
            summary = response.json()
        timings.sort()
        results[name] = Latency(
            nearest_rank(timings, 0.50), nearest_rank(timings, 0.95), sum(timings) / len(timings)
        )
    return results, summary


# --- Phases --------------------------------------------------------------------------------


@dataclass
class Size:
    """What one size of the run loaded, how the rollup went, and the endpoint latencies."""

    label: str
    events: int  # in the project after this phase
    loaded: Loaded
    load_seconds: float
    rollup: RollupOutcome
    latencies: dict[str, Latency]


def phase(
    tenant: Tenant,
    maker: RowMaker,
    per_request: float,
    *,
    count: int,
    total_before: Loaded,
    window: tuple[datetime, datetime],
    calls: int,
    budget_s: float,
) -> Size:
    events_after = total_before.total + count
    label = f"{events_after:,} events"
    print(f"{label}: loading {count:,} more events over the window", flush=True)
    rollup_lock(take=True)
    try:
        loaded, load_seconds = events_load(maker, count, *window, per_request, label)
        gc.collect()
        rollup = rollup_run(count, label, budget_s)
    finally:
        rollup_lock(take=False)
    print(
        f"{label}: loaded {loaded.total:,} events ({loaded.routing:,} routing + "
        f"{loaded.enforcement:,} enforcement) in {load_seconds:.1f} s = "
        f"{loaded.total / load_seconds:,.0f} events/s",
        flush=True,
    )
    state = "" if rollup.complete else f" INCOMPLETE (budget of {budget_s:.0f} s spent)"
    print(
        f"{label}: rollup of {rollup.events:,} events in {rollup.chunks} chunks took "
        f"{rollup.seconds:.1f} s = {rollup.rate:,.0f} events/s{state}",
        flush=True,
    )
    total = Loaded(
        total_before.routing + loaded.routing, total_before.enforcement + loaded.enforcement
    )
    if not rollup.complete:
        return Size(label, events_after, total, load_seconds, rollup, {})
    print(
        f"{label}: VACUUM (ANALYZE) of the tables read and a CHECKPOINT took "
        f"{tables_vacuum():.1f} s",
        flush=True,
    )
    rows = rollup_rows(tenant.project.pk)
    print(
        f"{label}: rollup rows of the project: "
        + ", ".join(f"{name} {count:,}" for name, count in sorted(rows.items())),
        flush=True,
    )
    from tollgate.heap import heap_settle

    heap_settle()  # as tollgate/wsgi.py settles a serving process's, once loaded
    latencies, summary = endpoints_measure(tenant, window, calls)
    seen = (summary.get("attempts"), summary.get("requests"))
    check = "matches" if seen[0] == total.routing else "DOES NOT MATCH"
    print(
        f"{label}: summary sees {seen[0]:,} attempts and {seen[1]:,} requests "
        f"({check} the {total.routing:,} routing events loaded)",
        flush=True,
    )
    for name, latency in latencies.items():
        print(
            f"{label}: {name:<10} P50 {latency.p50:7.1f} ms  P95 {latency.p95:7.1f} ms  "
            f"mean {latency.mean:7.1f} ms",
            flush=True,
        )
    return Size(label, events_after, total, load_seconds, rollup, latencies)


def table_print(small: Size, large: Size | None, calls: int) -> None:
    columns = [small] + ([large] if large else [])
    groups = (
        ("metrics API (read key)", ENDPOINTS, API_TARGET_MS),
        ("dashboard pages (signed in)", PAGES, PAGE_TARGET_MS),
    )
    for title, measured, target in groups:
        print()
        print(f"{title}, 30-day window, {calls} calls each after {WARMUP_CALLS} warm-up calls:")
        header = f"{'':<12}" + "".join(f"{size.label:>28}" for size in columns)
        if large:
            header += f"{'P95 ratio':>12}"
        print(header)
        print(f"{'':<12}" + "".join(f"{'P50 ms':>14}{'P95 ms':>14}" for _ in columns))
        names = [name for name, *_ in measured]
        for name in names:
            line = f"{name:<12}"
            for size in columns:
                latency = size.latencies[name]
                line += f"{latency.p50:>14.1f}{latency.p95:>14.1f}"
            if large:
                ratio = large.latencies[name].p95 / small.latencies[name].p95
                line += f"{ratio:>12.2f}"
            print(line)
        worst = max(size.latencies[name].p95 for size in columns for name in names)
        print(f"worst P95: {worst:.1f} ms (target < {target:.0f} ms)")
        if large:
            ratios = [large.latencies[name].p95 / small.latencies[name].p95 for name in names]
            print(
                f"P95 ratio {large.label} / {small.label}: {min(ratios):.2f} .. {max(ratios):.2f}"
            )


# --- Cleanup -------------------------------------------------------------------------------


def tenant_cleanup(tenant: Tenant) -> float:
    """Delete the run's data under the rollup lock; return the time."""
    rollup_lock(take=True)
    try:
        return tenant_delete(tenant)
    finally:
        rollup_lock(take=False)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="events in all (default 10,000,000)"
    )
    parser.add_argument(
        "--small-fraction",
        type=float,
        default=DEFAULT_SMALL_FRACTION,
        help="share of the events loaded for the first measurement (default 0.1)",
    )
    parser.add_argument(
        "--calls", type=int, default=DEFAULT_CALLS, help="timed calls per endpoint (default 50)"
    )
    parser.add_argument(
        "--rollup-budget",
        type=float,
        default=float("inf"),
        help="stop when a size's rollup takes longer than this many minutes (default: no limit)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's events, rollups and tenant"
    )
    arguments = parser.parse_args(argv)
    if arguments.events < 10:
        parser.error("--events must be at least 10")
    if not 0 < arguments.small_fraction < 1:
        parser.error("--small-fraction must be between 0 and 1")
    if arguments.calls < 1:
        parser.error("--calls must be at least 1")
    if arguments.rollup_budget <= 0:
        parser.error("--rollup-budget must be positive")
    small_count = max(1, round(arguments.events * arguments.small_fraction))
    budget_s = arguments.rollup_budget * 60

    django_setup()
    from django.conf import settings

    from analytics.rollups.job import rollups_advance
    from governance.selectors import price_book_for_project
    from ingestion.partitions import partitions_ensure

    signal.signal(signal.SIGTERM, _terminate)
    database = settings.DATABASES["default"]
    print(f"database: {database['NAME']} on {database['HOST'] or 'localhost'}", flush=True)
    rollup_lock(take=True)  # waits for a worker that is mid-run; released after the first size
    started = time.perf_counter()
    backlog = rollups_advance(max_seconds=float("inf"))
    print(
        f"backlog rolled up first (not counted): {backlog.total_events} events in "
        f"{time.perf_counter() - started:.2f} s",
        flush=True,
    )

    tenant = tenant_create(
        "query", scope="read", service_names=[s.project for s in traffic.SCENARIOS.values()]
    )
    try:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        window = (end - WINDOW, end)
        partitions_ensure(months_between(*window))
        maker = RowMaker(
            tenant.project.pk,
            plans_build(tenant.services),
            price_book_for_project(project_id=tenant.project.pk),
            arguments.seed,
        )
        per_request = events_per_request(maker, arguments.seed + 1)
        print(
            f"project {tenant.project.pk}: window {window[0].isoformat()} .. "
            f"{window[1].isoformat()}, {per_request:.2f} events per request",
            flush=True,
        )
        common = {"window": window, "calls": arguments.calls, "budget_s": budget_s}
        small = phase(
            tenant, maker, per_request, count=small_count, total_before=Loaded(), **common
        )
        large = None
        if small.rollup.complete:
            large = phase(
                tenant,
                maker,
                per_request,
                count=arguments.events - small_count,
                total_before=small.loaded,
                **common,
            )
        if small.rollup.complete:
            table_print(small, large if large and large.rollup.complete else None, arguments.calls)
        complete = small.rollup.complete and large is not None and large.rollup.complete
    finally:
        if arguments.keep:
            print(f"kept project {tenant.project.pk} ({tenant.project.name})")
        else:
            print(
                f"deleted the run's events, rollups and tenant in {tenant_cleanup(tenant):.1f} s",
                flush=True,
            )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())

"""The rollup job: new raw events become request facts and minute, hour and day rollups.

Each chunk is one transaction that reads events past the stream's watermark (in ingest order,
only from transactions that can no longer commit: analytics.rollups.reads), updates request
facts and rollups, and moves the watermark. A crash loses the whole chunk and the next run
redoes it; an advisory lock, held for the whole run, keeps two workers (or beats) from working
at once. Attempt and layer rollups of every grain add the chunk's figures, built from the
events themselves; request rollups move by each touched request's old and new contribution,
because a late enforcement event changes what its request counts as.

Two cores are put to work: the next chunk is read on a second connection, and its price-free
work done (request deltas, layer rows), while this one is folded; and the request facts are
upserted by a helper thread while the attempt and layer rows are added to their buckets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from analytics.models import Watermark
from analytics.rollups.families import (
    ATTEMPTS,
    LAYERS,
    REQUESTS,
    Family,
    Span,
    grains_deltas,
    grains_fetch,
    grains_merge,
    grains_merged,
    grains_replace,
    grains_spans,
)
from analytics.rollups.memory import arenas_limit, heap_trim
from analytics.rollups.reads import STREAMS, ReadAhead, positions_after, streams_read
from governance.pricing import calls_price
from governance.selectors import baseline_model_name, complexity_bands, price_book_for_project
from tollgate.db.sql import (
    column_values,
    copy_rows,
    csv_aggregate,
    csv_frame,
    epoch_us,
    execute,
    fetch_rows,
)

ROLLUP_LOCK_KEY = 0x746F6C6C_726F6C6C  # any constant, shared by every rollup worker
# Keeps a worker under 500 MiB: peak RSS about 360 MiB when both streams fill their half of a
# chunk with late events (two chunks are in memory: one folded, the next read ahead), 215 MiB
# on the demo mix.
CHUNK_EVENTS = 100_000

FACT_FLAGS = (
    "intercepted", "blocked", "modified", "violation_detected", "caught", "escaped",
    "false_positive",
)  # fmt: skip


@dataclass
class RollupRun:
    """What one run of the job did."""

    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    chunks: int = 0
    skipped_locked: bool = False

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


def rollups_advance(*, max_seconds: float = 50.0, chunk_events: int = CHUNK_EVENTS) -> RollupRun:
    """Fold every event committed so far into the rollups, chunk by chunk, for at most about
    `max_seconds` (the next run goes on from the watermarks).

    The run holds the rollup lock from its first chunk to its last, so the chunk read ahead
    is still what the next chunk would read; another worker skips its run meanwhile.
    """
    run = RollupRun()
    deadline = time.monotonic() + max_seconds
    with _rollup_lock_held() as held:
        if not held:
            run.skipped_locked = True
            return run
        Watermark.objects.bulk_create(  # the first run on a database starts at the beginning
            [Watermark(stream=stream) for stream in STREAMS], ignore_conflicts=True
        )
        arenas_limit(1)  # for the process: its threads' arenas would keep every chunk's peak
        ahead = ReadAhead(chunk_prepare)
        try:
            while time.monotonic() < deadline:
                processed = _chunk_process(chunk_events=chunk_events, ahead=ahead)
                heap_trim()
                if not any(processed.values()):
                    break
                for stream, count in processed.items():
                    run.events[stream] += count
                run.chunks += 1
        finally:
            ahead.close()
    return run


@contextmanager
def _rollup_lock_held() -> Iterator[bool]:
    """Hold the rollup lock for this session, if no other worker has it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ROLLUP_LOCK_KEY])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ROLLUP_LOCK_KEY])
            except DatabaseError:
                connection.close()  # a session lock must not outlive a failed run


def _chunk_process(*, chunk_events: int, ahead: ReadAhead[Chunk]) -> dict[str, int]:
    """Process the next events of both streams in one transaction; the number taken from each.
    The caller holds the rollup lock.

    Both streams are read together, so a request whose routing and enforcement events arrived
    together updates its fact (and its request rollups) once, not once per stream. The chunk
    comes from the read ahead when it read from the same watermarks (and found any), and the
    read of the next chunk starts before this one is worked on.
    """
    with transaction.atomic():
        watermarks = {w.stream: w for w in Watermark.objects.select_for_update()}
        starts = {stream: (mark.xid, mark.seq) for stream, mark in watermarks.items()}
        limit = max(1, chunk_events // len(STREAMS))
        chunk = ahead.take(starts, limit)
        if chunk is None or chunk.empty:  # an empty read ahead may be out of date
            chunk = chunk_prepare(streams_read(starts, limit))
        if not chunk.empty:
            ahead.ask(positions_after(starts, chunk.streams), limit)
        _chunk_fold(chunk)
        for stream, events in chunk.streams.items():
            if events.empty:
                continue
            last = events.iloc[-1]
            Watermark.objects.filter(stream=stream).update(
                xid=int(last["xid"]),
                seq=int(last["seq"]),
                events_processed=watermarks[stream].events_processed + len(events),
                updated_at=timezone.now(),  # update() skips auto_now
            )
        return {stream: len(events) for stream, events in chunk.streams.items()}


# --- Folding a chunk ---------------------------------------------------------------------


@dataclass
class Chunk:
    """A chunk's events, and the part of its work that needs neither the database nor prices
    (so the read-ahead thread does it, while the job works on the chunk before)."""

    streams: dict[str, pd.DataFrame]  # of enforcement events, only positions once prepared
    facts: pd.DataFrame | None = None  # per touched request, what to fold into its fact
    layer_deltas: dict[str, pd.DataFrame] | None = None  # per grain

    @property
    def empty(self) -> bool:
        return all(events.empty for events in self.streams.values())


def chunk_prepare(streams: dict[str, pd.DataFrame]) -> Chunk:
    """The chunk of these events, with its price-free work done."""
    chunk = Chunk(streams)
    request_rows = []
    if not streams["routing"].empty:
        request_rows.append(_routing_request_rows(streams["routing"]))
    if not streams["enforcement"].empty:
        checks, requests = _enforcement_rows(streams["enforcement"])
        chunk.layer_deltas = grains_deltas(LAYERS, checks)
        request_rows.append(requests)
        # All that is left to do with them is move the watermark: keep what it needs.
        streams["enforcement"] = streams["enforcement"][["seq", "xid"]]
    if request_rows:
        chunk.facts = _request_deltas(pd.concat(request_rows, ignore_index=True))
    return chunk


def _chunk_fold(chunk: Chunk) -> None:
    """Fold a chunk's events into request facts and every rollup.

    The request facts are written on the connection by a helper thread while this one sums
    the attempt rows into grains and adds the attempt and layer rows to what their buckets
    hold, which needs no database: PostgreSQL's share of the upsert then runs beside Python's
    share of the aggregation. Only then are those buckets rewritten.
    """
    if chunk.facts is None:
        return
    routing = chunk.streams["routing"]
    # Attempt rows read bands and prices, and the buckets to add to are read, on this
    # thread's connection: before the helper takes it.
    attempts = attempt_event_rows(routing) if not routing.empty else None
    spans: dict[Family, dict[str, list[Span]]] = {}
    if chunk.layer_deltas is not None:
        minutes = chunk.layer_deltas["m"]
        spans[LAYERS] = grains_spans(minutes["project_id"], minutes["bucket"])
    if attempts is not None:
        spans[ATTEMPTS] = grains_spans(attempts["project_id"], attempts["bucket"])
    stored = {family: grains_fetch(family, by_grain) for family, by_grain in spans.items()}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup-facts") as helper:
        # The wrapper itself: `connection` is a proxy that resolves in the calling thread.
        written = helper.submit(_facts_upsert, chunk.facts, on=connections[DEFAULT_DB_ALIAS])
        deltas = {LAYERS: chunk.layer_deltas} if chunk.layer_deltas is not None else {}
        if attempts is not None:
            deltas[ATTEMPTS] = grains_deltas(ATTEMPTS, attempts)
        rows = {
            family: grains_merged(family, by_grain, stored[family])
            for family, by_grain in deltas.items()
        }
        contributions = written.result()
    for family, by_grain in rows.items():
        grains_replace(family, spans[family], by_grain)
    grains_merge(REQUESTS, grains_deltas(REQUESTS, contributions, weights=contributions["sign"]))


# --- Routing events ----------------------------------------------------------------------


def _routing_request_rows(events: pd.DataFrame) -> pd.DataFrame:
    """What routing events tell about their requests."""
    return _request_rows(
        events,
        model=events["model"],
        mode=events["mode"],
        first_attempt_at=events["timestamp"],
        attempts=1,
        ok_attempts=(events["status"] == "ok").astype("int64"),
    )


def attempt_event_rows(events: pd.DataFrame) -> pd.DataFrame:
    """What each routing event adds to the attempt rollups, with `cost_units` as its cost
    (NA when unpriced)."""
    is_fallback = events["fallback_from"] != ""
    cost_units = events["cost_units"].astype("Int64")
    priced = cost_units.notna()
    baseline_units = _baseline_units(events, priced)
    cost = cost_units.fillna(0).astype("int64")
    return pd.DataFrame(
        {
            "bucket": events["timestamp"],
            **{name: events[name] for name in ATTEMPTS.dims},
            "attempts": 1,
            "errors": (events["status"] != "ok").astype("int64"),
            "fallbacks": is_fallback.astype("int64"),
            "nonfallback_attempts": (~is_fallback).astype("int64"),
            "conforming_attempts": _conforming(events, is_fallback).astype("int64"),
            "unpriced_attempts": (~priced).astype("int64"),
            "input_tokens": events["input_tokens"],
            "output_tokens": events["output_tokens"],
            "cache_read_tokens": events["cache_read_tokens"],
            "cache_write_tokens": events["cache_write_tokens"],
            "reasoning_tokens": events["reasoning_tokens"],
            "routing_latency_count": events["routing_latency_ms"].notna().astype("int64"),
            "latency_sum_ms": events["latency_ms"],
            "routing_latency_sum_ms": events["routing_latency_ms"].fillna(0.0),
            "cost_usd": cost,
            "baseline_cost_usd": baseline_units.fillna(0).astype("int64"),
            "baseline_actual_cost_usd": cost.where(baseline_units.notna(), 0),
            "latency_ms": events["latency_ms"],
            "routing_latency_ms": events["routing_latency_ms"],
        }
    )


def _conforming(events: pd.DataFrame, is_fallback: pd.Series) -> pd.Series:
    """Whether each non-fallback attempt went to the model its complexity band names."""
    conforming = pd.Series(False, index=events.index)
    for project_id, rows in events.groupby("project_id"):
        bands = complexity_bands(project_id=int(project_id))
        if not bands:
            continue
        lows = np.array([low for low, _, _ in bands])
        highs = np.array([high for _, high, _ in bands])
        models = np.array([model for _, _, model in bands], dtype=object)
        scores = rows["complexity_score"].to_numpy(dtype=np.float64)
        index = np.searchsorted(lows, scores, side="right") - 1
        inside = index >= 0
        safe = np.where(inside, index, 0)
        last = safe == len(bands) - 1
        inside &= (scores < highs[safe]) | (last & (scores <= highs[safe]))  # last band closed
        expected = np.where(inside, models[safe], None)
        matches = (rows["model"].to_numpy(dtype=object) == expected) & inside
        conforming.loc[rows.index] = matches & ~is_fallback.loc[rows.index].to_numpy()
    return conforming


def _baseline_units(events: pd.DataFrame, priced: pd.Series) -> pd.Series:
    """What each priced attempt would have cost on its project's baseline model, in 1e-8 USD,
    priced exactly as ingest prices; NA where the baseline has no price at that time."""
    result = pd.Series(pd.NA, index=events.index, dtype="Int64")
    for project_id, rows in events[priced].groupby("project_id"):
        name = baseline_model_name(project_id=int(project_id))
        entry = price_book_for_project(project_id=int(project_id)).entry(name) if name else None
        if entry is None:
            continue
        baseline = calls_price(entry, **calls_of(rows))
        result.loc[rows.index[baseline.has_price]] = baseline.units[baseline.has_price]
    return result


def calls_of(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The arguments of `calls_price` for these routing events."""
    return {
        "moments_us": rows["timestamp"].dt.as_unit("us").astype("int64").to_numpy(),
        **{name: rows[name].to_numpy(dtype=np.int64) for name in TOKEN_COLUMNS},
    }


TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


# --- Enforcement events ------------------------------------------------------------------


def _enforcement_rows(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a chunk of enforcement events adds to the layer rollups (a row per event), and
    what they tell about their requests."""
    pre_delivery = events["layer"] != "review"
    review = ~pre_delivery
    block = events["verdict"] == "block"
    modify = events["verdict"] == "modify"
    violation = events["violation"].notna()
    false_positive = events["false_positive"].astype(bool)
    events["intercepted"] = pre_delivery & (block | modify)
    events["blocked"] = pre_delivery & block
    events["modified"] = pre_delivery & modify
    events["violation_detected"] = violation
    events["caught"] = events["intercepted"] & violation
    events["escaped"] = review & violation & ~false_positive
    events["false_positive"] = review & false_positive

    checks = pd.DataFrame(
        {
            "bucket": events["timestamp"],
            **{name: events[name] for name in LAYERS.dims},
            "checks": 1,
            "blocks": block.astype("int64"),
            "modifies": modify.astype("int64"),
            "flags": (events["verdict"] == "flag").astype("int64"),
            "violations": violation.astype("int64"),
            "check_latency_ms": events["check_latency_ms"],
        }
    )
    return checks, _request_rows(
        events,
        checks=1,
        check_latency_ms=events["check_latency_ms"],
        **{flag: events[flag] for flag in FACT_FLAGS},
    )


# --- Shared steps ------------------------------------------------------------------------

REQUEST_ROW_DEFAULTS: dict[str, object] = {
    "model": None,  # None where a stream does not know
    "mode": None,
    "first_attempt_at": pd.NaT,
    "attempts": 0,
    "ok_attempts": 0,
    "checks": 0,
    "check_latency_ms": 0.0,
    **dict.fromkeys(FACT_FLAGS, False),
}
REQUEST_SUMS = ("attempts", "ok_attempts", "checks", "check_latency_ms")


def _request_rows(events: pd.DataFrame, **known: object) -> pd.DataFrame:
    """One row per event with what it tells about its request; neutral values elsewhere."""
    rows = events[["project_id", "request_id", "timestamp", "seq", "service_id", "environment"]]
    return rows.assign(**{**REQUEST_ROW_DEFAULTS, **known})


def _request_deltas(rows: pd.DataFrame) -> pd.DataFrame:
    """Per request of a chunk, both streams together: the dimensions of its earliest event,
    model and mode of its earliest attempt, and the sums and flags to fold into its fact."""
    ordered = rows.sort_values(["timestamp", "seq"], kind="stable").reset_index(drop=True)
    codes = ordered.groupby(["project_id", "request_id"], sort=False).ngroup().to_numpy()
    firsts = np.unique(codes, return_index=True)[1]  # each request's earliest event
    facts = ordered.loc[firsts, ["project_id", "request_id", "timestamp", "service_id"]]
    facts = facts.rename(columns={"timestamp": "first_seen"}).reset_index(drop=True)
    facts["environment"] = ordered["environment"].to_numpy()[firsts]
    attempts = np.flatnonzero(ordered["attempts"].to_numpy() > 0)
    with_attempt, first_attempts = np.unique(codes[attempts], return_index=True)
    earliest = attempts[first_attempts]  # each request's earliest attempt, where it has one
    for name, missing in (("model", ""), ("mode", ""), ("first_attempt_at", pd.NaT)):
        column = pd.Series(missing, index=facts.index, dtype=object)
        column.iloc[with_attempt] = ordered[name].to_numpy()[earliest]
        facts[name] = column
    facts["first_attempt_at"] = pd.to_datetime(facts["first_attempt_at"], utc=True)
    grouped = ordered.groupby(codes, sort=True)
    sums = grouped[list(REQUEST_SUMS)].sum().reset_index(drop=True)
    flags = grouped[list(FACT_FLAGS)].any().reset_index(drop=True)
    return pd.concat([facts, sums, flags], axis=1)


FACT_COLUMNS = (
    "project_id", "request_id", "first_seen", "service_id", "environment", "first_attempt_at",
    "model", "mode", "attempts", "ok_attempts", "checks", "check_latency_ms", *FACT_FLAGS,
)  # fmt: skip
FACT_TYPES = (
    "int8", "text", "timestamptz", "int8", "text", "timestamptz", "text", "text", "int4", "int4",
    "int4", "float8", *("bool",) * len(FACT_FLAGS),
)  # fmt: skip
FACT_UPSERT = f"""
INSERT INTO analytics_requestfact AS f ({", ".join(FACT_COLUMNS)})
SELECT {", ".join(FACT_COLUMNS)} FROM staged
ON CONFLICT (project_id, request_id) DO UPDATE SET
    first_seen = LEAST(f.first_seen, EXCLUDED.first_seen),
    service_id = CASE WHEN EXCLUDED.first_seen < f.first_seen THEN EXCLUDED.service_id ELSE f.service_id END,
    environment = CASE WHEN EXCLUDED.first_seen < f.first_seen THEN EXCLUDED.environment ELSE f.environment END,
    model = CASE WHEN EXCLUDED.first_attempt_at < f.first_attempt_at OR f.first_attempt_at IS NULL
                 THEN EXCLUDED.model ELSE f.model END,
    mode = CASE WHEN EXCLUDED.first_attempt_at < f.first_attempt_at OR f.first_attempt_at IS NULL
                THEN EXCLUDED.mode ELSE f.mode END,
    first_attempt_at = LEAST(f.first_attempt_at, EXCLUDED.first_attempt_at),
    attempts = f.attempts + EXCLUDED.attempts,
    ok_attempts = f.ok_attempts + EXCLUDED.ok_attempts,
    checks = f.checks + EXCLUDED.checks,
    check_latency_ms = f.check_latency_ms + EXCLUDED.check_latency_ms,
    {", ".join(f"{flag} = f.{flag} OR EXCLUDED.{flag}" for flag in FACT_FLAGS)}
"""


FACT_LIST = ", ".join(FACT_COLUMNS)
FACT_KEY = ("project_id", "request_id")
FACT_STAGE = "stage_analytics_requestfact"
# What a request's contribution to the request rollups is made of, as read back.
FOLDED_COLUMNS = (
    "sign", "project_id", "request_id", "first_seen", "service_id", "environment", "model",
    "mode", "attempts", "ok_attempts", "checks", "check_latency_ms", *FACT_FLAGS,
)  # fmt: skip
FOLDED_TEXT = ("request_id", "environment", "model", "mode")
FOLDED_TYPES = {
    **dict.fromkeys(FOLDED_COLUMNS, "int64"),
    **dict.fromkeys(FOLDED_TEXT, "str"),
    "check_latency_ms": "float64",
    **dict.fromkeys(FACT_FLAGS, "bool"),
}


def _folded_select(sign: int, alias: str) -> str:
    """FOLDED_COLUMNS of the facts `alias`, first_seen as microseconds since the epoch."""
    expressions = {name: f"{alias}.{name}" for name in FOLDED_COLUMNS}
    expressions["sign"] = str(sign)
    expressions["first_seen"] = epoch_us(f"{alias}.first_seen")
    return ", ".join(f"{expression} AS {name}" for name, expression in expressions.items())


# One statement, one snapshot: the first half of `folded` reads the facts as they were before
# the upsert, the second as it left them. Only the requests that had a fact already come back
# (few, unless events come late: most requests are new to a chunk); a new fact is what was
# staged. A stored fact counts at least one event, so a request's fact had one before exactly
# when the upsert made its count of events larger than staged. The rows come back as one CSV
# value (`csv_aggregate`).
FACT_FOLD = f"""
WITH staged AS (DELETE FROM {FACT_STAGE} RETURNING *),
after AS ({FACT_UPSERT} RETURNING {FACT_LIST}),
updated AS (
    SELECT a.* FROM after a JOIN staged s USING (project_id, request_id)
    WHERE a.attempts + a.checks <> s.attempts + s.checks
),
folded AS (
    SELECT {_folded_select(-1, "f")}
    FROM analytics_requestfact f JOIN updated u USING (project_id, request_id)
    UNION ALL
    SELECT {_folded_select(+1, "u")} FROM updated u
)
SELECT {csv_aggregate(FOLDED_COLUMNS, FOLDED_TEXT, "e")} FROM folded e
"""


def _facts_upsert(facts: pd.DataFrame, *, on: BaseDatabaseWrapper) -> pd.DataFrame:
    """Fold per-request deltas into request facts; return what moves the request rollups:
    each touched request's old contribution taken away (sign -1) and its new one added.

    Runs on a helper thread with the chunk's connection (`on`), so it touches nothing else.
    """
    execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {FACT_STAGE} ON COMMIT DELETE ROWS "
        f"AS SELECT {FACT_LIST} FROM analytics_requestfact WITH NO DATA",
        on=on,
    )
    copy_rows(
        FACT_STAGE,
        FACT_COLUMNS,
        zip(*(_fact_values(facts, name) for name in FACT_COLUMNS), strict=True),
        binary_types=FACT_TYPES,
        on=on,
    )
    ((data,),) = fetch_rows(FACT_FOLD, [], on=on)
    folded = csv_frame(data, FOLDED_COLUMNS, FOLDED_TYPES, moments=("first_seen",))
    before = folded[folded["sign"] == -1].reset_index(drop=True)
    updated = folded[folded["sign"] == 1].reset_index(drop=True)
    was_stored = pd.MultiIndex.from_frame(facts[list(FACT_KEY)]).isin(
        pd.MultiIndex.from_frame(updated[list(FACT_KEY)])
    )
    created = facts[~was_stored].reset_index(drop=True)
    sides = ((before, -1), (updated, +1), (created, +1))
    return pd.concat(
        [_contribution(side, sign) for side, sign in sides if not side.empty],
        ignore_index=True,
    )


def _fact_values(frame: pd.DataFrame, name: str) -> list[Any]:
    if name in FACT_FLAGS:
        return frame[name].astype(bool).tolist()
    return column_values(frame[name])


def _contribution(facts: pd.DataFrame, sign: int) -> pd.DataFrame:
    """What these request facts add to the request rollups (sign -1 takes it away)."""
    contribution = pd.DataFrame(
        {
            "bucket": pd.to_datetime(facts["first_seen"], utc=True),
            **{name: facts[name] for name in REQUESTS.dims},
            "requests": sign,
            "with_attempt": (facts["attempts"] > 0).astype("int64") * sign,
            "served": (facts["ok_attempts"] > 0).astype("int64") * sign,
            "with_checks": (facts["checks"] > 0).astype("int64") * sign,
            **{flag: facts[flag].astype("int64") * sign for flag in FACT_FLAGS},
            "overhead_ms": facts["check_latency_ms"].where(facts["checks"] > 0),
            "sign": sign,
        }
    )
    return contribution


# --- For a rebuild from raw events (analytics.rollups.reconcile) -------------------------------------


def layer_event_rows(events: pd.DataFrame) -> pd.DataFrame:
    """What each enforcement event adds to the layer rollups (as for `grain_deltas`)."""
    return _enforcement_rows(events.copy())[0] if not events.empty else events


def request_facts_of(routing: pd.DataFrame, enforcement: pd.DataFrame) -> pd.DataFrame:
    """The request facts (FACT_COLUMNS) that all these events make, folded together: what
    the job's upserts leave once every event of each request is in."""
    rows = []
    if not routing.empty:
        rows.append(_routing_request_rows(routing))
    if not enforcement.empty:
        rows.append(_enforcement_rows(enforcement.copy())[1])
    if not rows:
        return pd.DataFrame(columns=list(FACT_COLUMNS))
    return _request_deltas(pd.concat(rows, ignore_index=True))[list(FACT_COLUMNS)]


def request_contributions(facts: pd.DataFrame) -> pd.DataFrame:
    """What each of these request facts adds to the request rollups (as for `grain_deltas`,
    weighted by its `sign` column)."""
    return _contribution(facts, +1) if not facts.empty else facts

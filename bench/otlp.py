"""OTLP intake benchmark: `POST /v1/traces` (protobuf) against the JSON ingest API and a bare
binary COPY of the same rows, in the same run.

What it measures, on whatever database the settings resolve to (the embedded pgserver when
DATABASE_URL is unset):

1. The events of `bench/ingest.py`'s generator (default 50,000; 70% routing, 30% enforcement)
   are built, before the clock starts, twice: as JSON ingest batches of 1,000, and as OTLP
   export requests of 1,000 spans each (a chat span per routing event, an `apply_guardrail`
   span per check, with the GenAI attributes an instrumentation library sets, a few it sets
   that Tollgate ignores, and `tollgate.*` for the rest), serialized with opentelemetry-proto.
2. Both are posted to a real gunicorn (2 sync workers) by 2 client threads, taking turns a
   quarter of the batches at a time (the machine is shared: a change in its load falls on
   both), each into its own project (OTLP's event ids come from trace and span ids, so the two
   never collide): the wall time covers authentication, rate limiting, decoding (orjson, or protobuf plus the span
   mapping), validation and pricing, the COPY and the commit. The OTLP requests are then sent
   again: every span is a duplicate (an exporter's retry).
3. Bare COPY: the JSON batches' rows (built untimed by `batch_validate`) loaded by one psycopg 3
   connection into unpartitioned scratch tables of the same shape, committing every 1,000 rows
   (`bench/ingest.py`'s floor).
4. Untimed by HTTP, the decoder's own cost per span in this process: protobuf parse and
   `spans_map`, beside `orjson.loads` of the same events as JSON.

DESIGN.md's target: OTLP protobuf intake at 0.5 of the bare COPY rate.

Run: `PYTHONPATH=. .venv/bin/python bench/otlp.py [--events N]`. Each run creates its own
organizations, projects, services and keys (names carry a timestamp); the ingested events stay,
the scratch tables are dropped.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from benchkit import django_setup, reference_matrix, tenant_create
from ingest import (
    BATCH_SIZE,
    CLIENTS,
    WORKERS,
    PostOutcome,
    batches_split,
    copy_floor,
    events_generate,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    gunicorn_wait,
    http_ingest,
    models_of,
    rows_build,
    stored_counts,
)

OTLP_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
TURNS = 4  # slices of the batches each path posts in turn
DECISIONS = {"allow": "allow", "block": "deny", "modify": "modify", "flag": "warn"}


# --- Spans ---------------------------------------------------------------------------------


def _nanoseconds(timestamp: str) -> int:
    moment = datetime.fromisoformat(timestamp)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def span_of(event: dict[str, Any], rng: random.Random) -> Any:
    """The span an instrumented service would export for this event."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def value(item: Any) -> AnyValue:
        if isinstance(item, bool):
            return AnyValue(bool_value=item)
        if isinstance(item, int):
            return AnyValue(int_value=item)
        if isinstance(item, float):
            return AnyValue(double_value=item)
        return AnyValue(string_value=item)

    start = _nanoseconds(event["timestamp"])
    if event["type"] == "routing":
        name = f"chat {event['model']}"
        duration_ms = event["latency_ms"]
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": event["model"],
            "gen_ai.response.model": event["model"],
            "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):016x}",
            "gen_ai.request.temperature": 0.2,
            "server.address": "api.example.com",
            "server.port": 443,
            "gen_ai.usage.input_tokens": event["input_tokens"],
            "gen_ai.usage.output_tokens": event["output_tokens"],
            "tollgate.mode": event["mode"],
            "tollgate.user_tier": event["user_tier"],
            "tollgate.route_reason": event["route_reason"],
        }
        optional = {
            "provider": "gen_ai.provider.name",
            "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
            "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
            "complexity_score": "tollgate.complexity_score",
            "error_type": "error.type",
        }
        failed = event["status"] != "ok"
    else:
        name = "apply_guardrail"
        duration_ms = event["check_latency_ms"]
        attributes = {
            "gen_ai.operation.name": "apply_guardrail",
            "gen_ai.security.decision.type": DECISIONS[event["verdict"]],
            "security.policy.name": event["policy"],
            "tollgate.layer": event["layer"],
            "tollgate.false_positive": event["false_positive"],
        }
        optional = {"violation": "tollgate.violation", "severity": "tollgate.severity"}
        failed = False
    for field, attribute in optional.items():
        if field in event:
            attributes[attribute] = event[field]
    if event["type"] == "routing" and event["status"] == "timeout":
        attributes["error.type"] = "TimeoutError"
    elif event["type"] == "routing" and event["status"] == "rate_limited":
        attributes["error.type"] = "RateLimitError"
    return Span(
        trace_id=rng.randbytes(16),
        span_id=rng.randbytes(8),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * 1e6),
        attributes=[KeyValue(key=key, value=value(item)) for key, item in attributes.items()],
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET),
    )


def export_body(events: list[dict[str, Any]], rng: random.Random) -> bytes:
    """One export request for a batch: a resource per environment, as an SDK groups them."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportTraceServiceRequest()
    for environment in sorted({event["environment"] for event in events}):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            [
                KeyValue(key="service.name", value=AnyValue(string_value="bench-router")),
                KeyValue(
                    key="deployment.environment.name", value=AnyValue(string_value=environment)
                ),
            ]
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "opentelemetry.instrumentation.openai"
        scope_spans.spans.extend(
            span_of(event, rng) for event in events if event["environment"] == environment
        )
    return request.SerializeToString()


def otlp_judge(
    index: int, size: int, status: int, payload: bytes, expect: str
) -> tuple[int, str | None]:
    """A batch is fine when answered 200 without rejected spans (OTLP does not say how many
    were new; the stored counts do)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    if status == 200:
        answer = ExportTraceServiceResponse.FromString(payload)
        if answer.partial_success.rejected_spans == 0:
            return size, None
        return 0, f"batch {index}: {answer.partial_success.error_message}"
    return 0, f"batch {index}: HTTP {status}: {payload[:300].decode('utf-8', 'replace')}"


def otlp_ingest(
    port: int, raw_key: str, bodies: Sequence[bytes], sizes: list[int]
) -> tuple[float, PostOutcome]:
    """Post every export request to /v1/traces as `http_ingest` posts JSON batches."""
    return http_ingest(
        port, raw_key, bodies, sizes, path=OTLP_PATH, content_type=PROTOBUF, judge=otlp_judge
    )


# --- Decoders in process -------------------------------------------------------------------


def decoder_costs(json_bodies: list[bytes], otlp_bodies: list[bytes]) -> tuple[float, float]:
    """Microseconds per event of `orjson.loads` and of protobuf parse + `spans_map`."""
    from ingestion.otlp.codec import PROTOBUF as MEDIA_TYPE
    from ingestion.otlp.codec import request_decode
    from ingestion.otlp.mapping import spans_map

    events = 0
    started = time.perf_counter()
    for body in json_bodies:
        events += len(orjson.loads(body)["batch"])
    json_us = (time.perf_counter() - started) / events * 1e6
    spans = 0
    started = time.perf_counter()
    for body in otlp_bodies:
        spans += len(spans_map(request_decode(body, MEDIA_TYPE)).events)
    return json_us, (time.perf_counter() - started) / spans * 1e6


# --- Report --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=50_000, help="events (default 50,000)")
    arguments = parser.parse_args(argv)
    if arguments.events < 1:
        parser.error("--events must be at least 1")

    django_setup()
    from django.conf import settings

    database = settings.DATABASES["default"]
    print(f"database: {database['NAME']} on {database['HOST'] or 'localhost'}", flush=True)

    json_tenant = tenant_create("otlp-json", scope="ingest")
    otlp_tenant = tenant_create("otlp", scope="ingest")
    events = events_generate(arguments.events, models_of(reference_matrix()))
    batches = batches_split(events, BATCH_SIZE)
    sizes = [len(batch) for batch in batches]
    json_bodies = [orjson.dumps({"batch": batch}) for batch in batches]
    rng = random.Random(7)
    otlp_bodies = [export_body(batch, rng) for batch in batches]
    print(
        f"generated {len(events)} events in {len(batches)} batches: "
        f"{sum(map(len, json_bodies)) / 1e6:.1f} MB of JSON, "
        f"{sum(map(len, otlp_bodies)) / 1e6:.1f} MB of OTLP protobuf",
        flush=True,
    )

    port = free_port()
    server = gunicorn_start(port)
    try:
        gunicorn_wait(server, port)
        # The two paths take turns, a slice each, so a change in the machine's load (it is
        # shared) falls on both alike.
        json_seconds = otlp_seconds = 0.0
        failures: list[str] = []
        for turn in range(TURNS):
            part = slice(turn, None, TURNS)
            seconds, outcome = http_ingest(
                port, json_tenant.raw_key, json_bodies[part], sizes[part]
            )
            json_seconds, failures = json_seconds + seconds, failures + outcome.failures
            seconds, outcome = otlp_ingest(
                port, otlp_tenant.raw_key, otlp_bodies[part], sizes[part]
            )
            otlp_seconds, failures = otlp_seconds + seconds, failures + outcome.failures
        replay_seconds, replay_outcome = otlp_ingest(port, otlp_tenant.raw_key, otlp_bodies, sizes)
    finally:
        gunicorn_stop(server)

    json_stored = sum(stored_counts(json_tenant.project.pk))
    otlp_stored = sum(stored_counts(otlp_tenant.project.pk))
    row_batches = rows_build(json_tenant, batches)
    row_count = sum(len(r) + len(e) for r, e in row_batches)
    copy_seconds, copied = copy_floor(row_batches)
    json_us, otlp_us = decoder_costs(json_bodies, otlp_bodies)

    copy_rate = row_count / copy_seconds
    json_rate = len(events) / json_seconds
    otlp_rate = len(events) / otlp_seconds
    replay_rate = len(events) / replay_seconds
    setup = f"gunicorn, {WORKERS} workers, {CLIENTS} clients, batches of {BATCH_SIZE}"
    print(f"JSON ingest over HTTP ({setup}): {json_rate:,.0f} events/s")
    print(f"OTLP protobuf over HTTP ({setup}): {otlp_rate:,.0f} events/s")
    print(f"OTLP re-export (every span a duplicate): {replay_rate:,.0f} events/s")
    print(
        f"bare COPY, commit every {BATCH_SIZE} rows: {row_count} rows in {copy_seconds:.2f} s "
        f"= {copy_rate:,.0f} rows/s"
    )
    print(f"ratio OTLP / COPY: {otlp_rate / copy_rate:.2f} (target >= 0.5)")
    print(f"ratio JSON ingest / COPY: {json_rate / copy_rate:.2f} (target >= 0.7)")
    print(f"ratio OTLP / JSON ingest: {otlp_rate / json_rate:.2f}")
    print(f"ratio OTLP re-export / COPY: {replay_rate / copy_rate:.2f}")
    print(
        f"decoding in this process: orjson {json_us:.1f} us/event, "
        f"protobuf + span mapping {otlp_us:.1f} us/span"
    )
    print(
        f"stored: {json_stored} events by JSON, {otlp_stored} by OTLP, of {len(events)}; "
        f"copied into scratch: {copied} rows"
    )
    failures += replay_outcome.failures
    if failures:
        print(f"{len(failures)} failed batches:", file=sys.stderr)
        for failure in failures[:20]:
            print(f"  {failure}", file=sys.stderr)
    complete = json_stored == otlp_stored == len(events) and copied == row_count
    return 0 if not failures and complete else 1


if __name__ == "__main__":
    sys.exit(main())

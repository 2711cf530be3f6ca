"""The real OpenTelemetry Python SDK and its OTLP/HTTP exporter against a live server: GenAI chat
and guardrail spans land as priced events, a re-export adds nothing, an unmappable span comes
back in `partial_success`; OTLP JSON (which the Python SDK cannot send) is posted with httpx
the way the specification writes it."""

from __future__ import annotations

import gzip
import json
import time
from decimal import Decimal

import httpx
import pytest
import requests
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from ingestion.models import EnforcementEvent, RoutingEvent
from ingestion.otlp.mapping import span_event_id

# A live server answers from another thread: its writes must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """An exporter's requests session that keeps every answer, to read `partial_success`."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.answers: list[requests.Response] = []
        self.session.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.answers.append(response)


def exporter_for(live_server, key: str, recorder: Recorder, **options) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"Authorization": f"Bearer {key}"},
        session=recorder.session,
        **options,
    )


def traced(exporter: OTLPSpanExporter, *, batch: bool = True):
    """A tracer whose spans go to `exporter` (batched, as services run it) and to memory."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "support-bot", "deployment.environment.name": "staging"}
        )
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    )
    return provider, memory


def chat_call(tracer, *, model: str, input_tokens: int, output_tokens: int, **extra) -> None:
    with tracer.start_as_current_span(f"chat {model}") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                **extra,
            }
        )
        time.sleep(0.01)


def guardrail_check(tracer, *, decision: str, policy: str = "pii-filter", **extra) -> None:
    with tracer.start_as_current_span("apply_guardrail") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "apply_guardrail",
                "gen_ai.security.decision.type": decision,
                "security.policy.name": policy,
                **extra,
            }
        )


def ids_of(span: ReadableSpan) -> tuple[str, str]:
    """The span's trace and span ids in hex, as OTLP carries them."""
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def event_id_of(span: ReadableSpan) -> str:
    return span_event_id(*ids_of(span))


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (found,) = [span for span in spans if span.name == name]
    return found


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_sdk_exports_chat_and_guardrail_spans_that_land_priced(
    live_server, ingest_key, project, compression
):
    recorder = Recorder()
    provider, memory = traced(
        exporter_for(live_server, ingest_key, recorder, compression=compression)
    )
    tracer = provider.get_tracer("tests.otlp")

    with tracer.start_as_current_span("handle request"):  # an HTTP span: ignored
        guardrail_check(tracer, decision="warn", **{"tollgate.layer": "preprocess"})
        chat_call(
            tracer,
            model="claude-opus-4.6",
            input_tokens=1500,
            output_tokens=500,
            **{"tollgate.mode": "enforcement_first", "gen_ai.usage.reasoning.output_tokens": 100},
        )
        guardrail_check(tracer, decision="deny", **{"tollgate.violation": "pii"})
    with tracer.start_as_current_span("chat gpt-5.4") as failed:
        failed.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-5.4",
                "error.type": "RateLimitError",
            }
        )
        failed.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
    assert provider.force_flush(10_000)
    provider.shutdown()

    assert recorder.answers and {answer.status_code for answer in recorder.answers} == {200}
    assert not any(
        ExportTraceServiceResponse.FromString(answer.content).HasField("partial_success")
        for answer in recorder.answers
    )
    spans = memory.get_finished_spans()
    chat = by_name(spans, "chat claude-opus-4.6")
    row = RoutingEvent.objects.get(event_id=event_id_of(chat))
    assert (row.project_id, row.environment, row.request_id) == (
        project.pk,
        "staging",
        ids_of(chat)[0],
    )
    assert (row.model, row.provider, row.mode, row.status) == (
        "claude-opus-4.6",
        "openai",
        "enforcement_first",
        "ok",
    )
    assert (row.input_tokens, row.output_tokens, row.reasoning_tokens) == (1500, 500, 100)
    assert row.priced_cost_usd == Decimal("0.024")  # 2,000 tokens at $0.012 / 1k
    assert chat.end_time is not None and chat.start_time is not None
    assert row.latency_ms == pytest.approx((chat.end_time - chat.start_time) / 1e6)
    assert row.latency_ms >= 10
    assert row.attributes == {"span.name": "chat claude-opus-4.6", "service.name": "support-bot"}

    verdicts = dict(
        EnforcementEvent.objects.filter(request_id=row.request_id).values_list("layer", "verdict")
    )
    assert verdicts == {"preprocess": "flag", "execution": "block"}
    blocked = EnforcementEvent.objects.get(verdict="block")
    assert (blocked.policy, blocked.violation) == ("pii-filter", "pii")

    failed_row = RoutingEvent.objects.get(event_id=event_id_of(by_name(spans, "chat gpt-5.4")))
    assert (failed_row.status, failed_row.error_type, failed_row.mode) == (
        "rate_limited",
        "RateLimitError",
        "hybrid",  # the project's default mode
    )
    assert (failed_row.input_tokens, failed_row.output_tokens) == (0, 0)
    assert RoutingEvent.objects.count() == 2 and EnforcementEvent.objects.count() == 2


def test_exporting_the_same_spans_again_adds_nothing(live_server, ingest_key):
    recorder = Recorder()
    provider, memory = traced(exporter_for(live_server, ingest_key, recorder), batch=False)
    tracer = provider.get_tracer("tests.otlp")
    chat_call(tracer, model="gpt-5.4", input_tokens=800, output_tokens=200)
    guardrail_check(tracer, decision="allow")
    provider.shutdown()
    stored = RoutingEvent.objects.count(), EnforcementEvent.objects.count()

    again = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert again.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS

    assert stored == (1, 1)
    assert (RoutingEvent.objects.count(), EnforcementEvent.objects.count()) == stored


def test_an_unmappable_span_is_reported_in_partial_success(live_server, ingest_key):
    recorder = Recorder()
    provider, memory = traced(exporter_for(live_server, ingest_key, recorder))
    tracer = provider.get_tracer("tests.otlp")
    chat_call(tracer, model="gpt-5.4", input_tokens=800, output_tokens=200)
    guardrail_check(tracer, decision="escalate")  # not a decision Tollgate can map
    provider.shutdown()

    (answer,) = recorder.answers
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    bad = by_name(memory.get_finished_spans(), "apply_guardrail")
    assert partial.rejected_spans == 1
    assert partial.error_message.startswith(
        f"span {ids_of(bad)[1]}: gen_ai.security.decision.type must be"
    )
    assert RoutingEvent.objects.count() == 1 and EnforcementEvent.objects.count() == 0


def test_the_exporter_configured_by_environment_variables(live_server, ingest_key, monkeypatch):
    # What a collector, OpenLLMetry or any SDK reads: the base URL and URL-encoded headers.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", live_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{ingest_key}")
    provider, _ = traced(OTLPSpanExporter(), batch=False)
    chat_call(provider.get_tracer("tests.otlp"), model="gpt-5.4", input_tokens=10, output_tokens=5)
    provider.shutdown()
    assert RoutingEvent.objects.count() == 1


def test_a_bad_protobuf_body_is_400(live_server, ingest_key):
    response = httpx.post(
        f"{live_server.url}/v1/traces",
        content=b"\x0a\xff\xff\xff\xff\x0f",
        headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)  # OTLP/HTTP's error body
    assert status.code == code_pb2.INVALID_ARGUMENT and "protobuf" in status.message


def otlp_json_export(trace_id: str, chat_span_id: str, guard_span_id: str) -> dict:
    """An OTLP JSON export as the specification writes one: hex ids, int64 as strings,
    enums as integers, lowerCamelCase keys."""
    start = time.time_ns() - 60 * 10**9
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "gateway"}},
                        {"key": "deployment.environment", "value": {"stringValue": "qa"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "openllmetry"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": chat_span_id,
                                "name": "chat gemini-3.1-pro",
                                "kind": 3,
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start + 180_000_000),
                                "attributes": [
                                    {
                                        "key": "gen_ai.operation.name",
                                        "value": {"stringValue": "chat"},
                                    },
                                    {"key": "gen_ai.system", "value": {"stringValue": "google"}},
                                    {
                                        "key": "gen_ai.response.model",
                                        "value": {"stringValue": "gemini-3.1-pro"},
                                    },
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "3000"},
                                    },
                                    {
                                        "key": "gen_ai.usage.output_tokens",
                                        "value": {"intValue": "1000"},
                                    },
                                ],
                                "status": {},
                            },
                            {
                                "traceId": trace_id,
                                "spanId": guard_span_id,
                                "parentSpanId": chat_span_id,
                                "name": "apply_guardrail",
                                "kind": 1,
                                "startTimeUnixNano": str(start + 180_000_000),
                                "endTimeUnixNano": str(start + 185_000_000),
                                "attributes": [
                                    {
                                        "key": "gen_ai.security.decision.type",
                                        "value": {"stringValue": "modify"},
                                    },
                                    {
                                        "key": "gen_ai.guardian.name",
                                        "value": {"stringValue": "nemo-output-rail"},
                                    },
                                    {
                                        "key": "tollgate.layer",
                                        "value": {"stringValue": "verification"},
                                    },
                                ],
                                "status": {"code": 1},
                            },
                        ],
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize("compressed", [False, True])
def test_otlp_json_lands_and_is_answered_in_json(live_server, ingest_key, compressed):
    trace_id, chat_id, guard_id = (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "a1b2c3d4e5f60718",
    )
    body = json.dumps(otlp_json_export(trace_id, chat_id, guard_id)).encode()
    headers = {"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"}
    if compressed:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"

    response = httpx.post(f"{live_server.url}/v1/traces", content=body, headers=headers)
    again = httpx.post(f"{live_server.url}/v1/traces", content=body, headers=headers)

    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert response.json() == {} and again.json() == {}
    row = RoutingEvent.objects.get(event_id=span_event_id(trace_id, chat_id))
    assert (row.request_id, row.environment, row.model, row.provider) == (
        trace_id,
        "qa",
        "gemini-3.1-pro",
        "google",
    )
    assert (row.input_tokens, row.output_tokens) == (3000, 1000)
    assert row.priced_cost_usd == Decimal("0.02")  # 4,000 tokens at $0.005 / 1k
    assert row.latency_ms == pytest.approx(180.0)
    check = EnforcementEvent.objects.get(event_id=span_event_id(trace_id, guard_id))
    assert (check.layer, check.policy, check.verdict) == (
        "verification",
        "nemo-output-rail",
        "modify",
    )
    assert check.check_latency_ms == pytest.approx(5.0)
    assert RoutingEvent.objects.count() == EnforcementEvent.objects.count() == 1  # replay: nothing

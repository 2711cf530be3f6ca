"""The demo's events as OpenTelemetry spans, as an instrumented service would export them to
`/v1/traces` (DESIGN.md "OTLP intake"): a model call is a `chat` span with the GenAI semantic
conventions' attributes, a check an `apply_guardrail` span, and what OpenTelemetry has no name
for rides in `tollgate.*` attributes.

A request's spans share its trace: the trace id is the request id's UUID, so the intake's
request id (the trace id in hex) ties a request's call and checks together as the JSON path's
request id does. A span's id is the first 8 bytes of the event's own UUID, so posting an event
twice exports the same span twice, which the intake counts once.

What the span conventions cannot say is left out, as it would be from a real exporter: the
router's own decision time, tool calls, a check's reported cost and the event's free-form
attributes. The scenario sent this way has no LLM judge, so its checks cost what the project's
default check cost says, on this path as on the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tollgate.demo.traffic import Event

SCOPE = InstrumentationScope(name="tollgate.demo")
# Event field -> the span attribute that carries it.
ROUTING_ATTRIBUTES = {
    "model": "gen_ai.response.model",
    "provider": "gen_ai.provider.name",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "error_type": "error.type",
    "mode": "tollgate.mode",
    "user_tier": "tollgate.user_tier",
    "complexity_score": "tollgate.complexity_score",
    "fallback_from": "tollgate.fallback_from",
    "route_reason": "tollgate.route_reason",
    "router_version": "tollgate.router_version",
}
CHECK_ATTRIBUTES = {
    "policy": "security.policy.name",
    "mode": "tollgate.mode",
    "layer": "tollgate.layer",
    "violation": "tollgate.violation",
    "severity": "tollgate.severity",
    "false_positive": "tollgate.false_positive",
    "policy_version": "tollgate.policy_version",
}
# The guardrail conventions' decision for each verdict (flag is their `warn`).
DECISIONS = {"allow": "allow", "block": "deny", "modify": "modify", "flag": "warn"}


def spans_export(events: Iterable[Event], *, service_name: str) -> ExportTraceServiceRequest:
    """The events as one export request of a service named `service_name`, one resource per
    environment."""
    by_environment: dict[str, list[Span]] = {}
    for event in events:
        environment = event.get("environment", "production")
        by_environment.setdefault(environment, []).append(event_span(event))
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=key_values(
                        {"service.name": service_name, "deployment.environment.name": environment}
                    )
                ),
                scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)],
            )
            for environment, spans in by_environment.items()
        ]
    )


def event_span(event: Event) -> Span:
    """One routing or enforcement event as the span a service would have recorded."""
    start_ns = _unix_ns(datetime.fromisoformat(event["timestamp"]))
    routing = event["type"] == "routing"
    duration_ms = event["latency_ms"] if routing else event["check_latency_ms"]
    if routing:
        name = f"chat {event['model']}"
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": event["model"]}
        attributes |= _carried(event, ROUTING_ATTRIBUTES)
        failed = event["status"] != "ok"
        if failed and "error.type" not in attributes:
            attributes["error.type"] = event["status"]
    else:
        name = "apply_guardrail"
        attributes = {"gen_ai.security.decision.type": DECISIONS[event["verdict"]]}
        attributes |= _carried(event, CHECK_ATTRIBUTES)
        failed = False
    return Span(
        trace_id=_request_trace_id(event["request_id"]),
        span_id=uuid.UUID(event["event_id"]).bytes[:8],
        name=name,
        kind=Span.SPAN_KIND_CLIENT if routing else Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + round(duration_ms * 1_000_000),
        attributes=key_values(attributes),
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_OK),
    )


def _carried(event: Event, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        attribute: event[field]
        for field, attribute in names.items()
        if event.get(field) is not None
    }


def _request_trace_id(request_id: str) -> bytes:
    """The demo's request ids are `req-<uuid>`: the UUID is the trace id."""
    return uuid.UUID(request_id.removeprefix("req-")).bytes


def _unix_ns(moment: datetime) -> int:
    # Integer arithmetic: a float timestamp loses the microseconds at this magnitude.
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def key_values(values: Mapping[str, Any]) -> list[KeyValue]:
    """Attributes as OTLP writes them: a key and a typed value each."""
    return [KeyValue(key=key, value=any_value(value)) for key, value in values.items()]


def any_value(value: Any) -> AnyValue:
    """A Python value as an OTLP AnyValue (one already built passes as it is)."""
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))

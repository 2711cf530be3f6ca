"""OpenTelemetry spans to Tollgate events (DESIGN.md "OTLP intake").

A span whose `gen_ai.operation.name` is `chat`, `text_completion` or `generate_content` becomes a
routing event; a span named `apply_guardrail` (or with that operation name) an enforcement event;
every other span is ignored. The events are the plain dicts the JSON ingest API receives, checked
by the same validation, so a span is refused for the same reasons an event is; the names of the
span attributes each field comes from (`FIELD_SOURCES`) turn a field error back into words about
the span. A span this module cannot map at all (a guardrail decision it does not know, ids of the
wrong length) is a `SpanProblem`.

Event ids are UUIDv5 over `EVENT_ID_NAMESPACE` of the trace id's 32 hex digits followed by the
span id's 16 (`span_event_id`), so a re-exported span is a duplicate, never a new event.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

# Fixed for good: changing it would make every re-exported span a new event.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1e52-4a0e-5b8f-9d3a-0c7a1d2e8b41")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes

ROUTING_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
GUARDRAIL = "apply_guardrail"
VERDICTS = {"allow": "allow", "deny": "block", "modify": "modify", "warn": "flag", "audit": "flag"}
# Lower-cased `error.type` fragments that say which failure it was (`TimeoutError`,
# `openai.APITimeoutError`, `deadline_exceeded`; `RateLimitError`, `429`, ...).
TIMEOUT_HINTS = ("timeout", "timed_out", "timed out", "deadline")
RATE_LIMIT_HINTS = ("ratelimit", "rate_limit", "rate limit", "429", "too_many_requests")
ERROR_TYPE_MAX = 200  # the schema's limit: a longer exception name is cut, not refused
NAME_MAX = 200  # span and service names kept in the event's attributes, cut to stay small

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS_ERROR = Status.STATUS_CODE_ERROR
_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})

DURATION = "span duration (end_time_unix_nano - start_time_unix_nano)"
# The fields OpenTelemetry has no attribute for, each carried as `tollgate.<field>`.
TOLLGATE_FIELDS = (
    "mode", "layer", "violation", "severity", "complexity_score", "user_tier", "fallback_from",
    "route_reason", "router_version", "policy_version", "false_positive",
)  # fmt: skip
# Event field -> where a span carries it, for error messages.
FIELD_SOURCES = {
    "event_id": "trace_id and span_id",
    "request_id": "trace_id",
    "timestamp": "start_time_unix_nano",
    "environment": "resource deployment.environment.name (or deployment.environment)",
    "attributes": "span name and resource service.name",
    "model": "gen_ai.response.model (or gen_ai.request.model)",
    "provider": "gen_ai.provider.name (or gen_ai.system)",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "latency_ms": DURATION,
    "check_latency_ms": DURATION,
    "error_type": "error.type",
    "policy": "security.policy.name (or gen_ai.guardian.name)",
    "verdict": "gen_ai.security.decision.type",
    **{name: f"tollgate.{name}" for name in TOLLGATE_FIELDS},
}

# Every span attribute the mapping reads; others are skipped unresolved.
READ_ATTRIBUTES = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "error.type",
        "gen_ai.security.decision.type",
        "security.policy.name",
        "gen_ai.guardian.name",
        *(f"tollgate.{name}" for name in TOLLGATE_FIELDS),
    }
)


def field_source(name: str) -> str:
    """Where a span carries the event field `name` (the field itself when unknown)."""
    return FIELD_SOURCES.get(name, name)


@dataclass(frozen=True, slots=True)
class SpanProblem:
    """A GenAI or guardrail span refused: its position among such spans, and why."""

    position: int
    span_id: str
    source: str
    message: str

    def text(self) -> str:
        return f"span {self.span_id or '(no id)'}: {self.source} {self.message}"


@dataclass
class MappedSpans:
    """A request's GenAI and guardrail spans as events (with each one's position among those
    spans and its span id), and the spans that could not be mapped."""

    events: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    span_ids: list[str] = field(default_factory=list)
    problems: list[SpanProblem] = field(default_factory=list)

    @property
    def candidates(self) -> int:
        """The spans that map to events, mapped or not: what the batch limit counts."""
        return len(self.events) + len(self.problems)

    def problem(self, index: int, field_name: str, message: str) -> SpanProblem:
        """Validation's error about event `index` as a problem of its span."""
        return SpanProblem(
            self.positions[index], self.span_ids[index], field_source(field_name), message
        )


def span_event_id(trace_id_hex: str, span_id_hex: str) -> str:
    """`uuid5(EVENT_ID_NAMESPACE, trace_id_hex + span_id_hex)` in canonical text, computed
    without building `uuid.UUID` objects (four times faster on the hot path)."""
    digest = hashlib.sha1(  # noqa: S324 (UUIDv5 is SHA-1 by definition; not a security use)
        _NAMESPACE_BYTES + (trace_id_hex + span_id_hex).encode("ascii")
    ).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 3]
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"


def spans_map(request: ExportTraceServiceRequest) -> MappedSpans:
    """Every GenAI and guardrail span of the request as an event dict, in order."""
    mapped = MappedSpans()
    for resource_spans in request.resource_spans:
        resource = {kv.key: kv.value for kv in resource_spans.resource.attributes}
        environment = _scalar(resource.get("deployment.environment.name"))
        if environment is None or environment == "":
            environment = _scalar(resource.get("deployment.environment"))
        service_name = _scalar(resource.get("service.name"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = _read_attributes(span)
                operation = attributes.get("gen_ai.operation.name")
                if span.name == GUARDRAIL or operation == GUARDRAIL:
                    kind = "enforcement"
                elif operation in ROUTING_OPERATIONS:
                    kind = "routing"
                else:
                    continue  # not a model call or a check: not Tollgate's business
                _span_add(mapped, kind, span, attributes, environment, service_name)
    return mapped


def _span_add(
    mapped: MappedSpans,
    kind: str,
    span: Span,
    attributes: dict[str, Any],
    environment: Any,
    service_name: Any,
) -> None:
    position = mapped.candidates
    span_id = span.span_id.hex()
    trace_id = span.trace_id.hex()
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        mapped.problems.append(
            SpanProblem(position, span_id, "trace_id and span_id", "must be 16 and 8 bytes")
        )
        return
    start = span.start_time_unix_nano
    name = span.name[:NAME_MAX]
    event: dict[str, Any] = {
        "type": kind,
        "event_id": span_event_id(trace_id, span_id),
        "timestamp": EPOCH + timedelta(microseconds=start // 1000),
        "request_id": trace_id,
        "environment": environment or None,
        "attributes": {"span.name": name, "service.name": service_name[:NAME_MAX]}
        if isinstance(service_name, str)
        else {"span.name": name},
        "mode": attributes.get("tollgate.mode"),
    }
    duration_ms = (span.end_time_unix_nano - start) / 1e6
    if kind == "routing":
        _routing(event, span, attributes, duration_ms)
    else:
        problem = _enforcement(event, attributes, duration_ms)
        if problem is not None:
            mapped.problems.append(SpanProblem(position, span_id, *problem))
            return
    mapped.events.append(event)
    mapped.positions.append(position)
    mapped.span_ids.append(span_id)


def _routing(
    event: dict[str, Any], span: Span, attributes: dict[str, Any], duration_ms: float
) -> None:
    get = attributes.get
    error_type = get("error.type")
    failed = span.status.code == _STATUS_ERROR or (error_type is not None and error_type != "")
    status = _failure(error_type) if failed else "ok"
    # A failed call reports no usage and was not billed: its tokens are 0. A call that
    # succeeded without reporting usage is refused (it would look free).
    tokens_default = 0 if failed else None
    event.update(
        model=get("gen_ai.response.model") or get("gen_ai.request.model"),
        provider=get("gen_ai.provider.name") or get("gen_ai.system"),
        input_tokens=_whole(get("gen_ai.usage.input_tokens"), tokens_default),
        output_tokens=_whole(get("gen_ai.usage.output_tokens"), tokens_default),
        cache_read_tokens=_whole(get("gen_ai.usage.cache_read.input_tokens"), None),
        cache_write_tokens=_whole(get("gen_ai.usage.cache_creation.input_tokens"), None),
        reasoning_tokens=_whole(get("gen_ai.usage.reasoning.output_tokens"), None),
        latency_ms=duration_ms,
        status=status,
        error_type=error_type[:ERROR_TYPE_MAX] if isinstance(error_type, str) and failed else None,
        user_tier=get("tollgate.user_tier"),
        complexity_score=get("tollgate.complexity_score"),
        fallback_from=get("tollgate.fallback_from"),
        route_reason=get("tollgate.route_reason"),
        router_version=get("tollgate.router_version"),
    )


def _enforcement(
    event: dict[str, Any], attributes: dict[str, Any], duration_ms: float
) -> tuple[str, str] | None:
    """Fill the check's fields; (source, message) when the decision cannot be mapped."""
    get = attributes.get
    decision = get("gen_ai.security.decision.type")
    source = FIELD_SOURCES["verdict"]
    if decision is None or decision == "":
        return source, "is required"
    verdict = VERDICTS.get(decision) if isinstance(decision, str) else None
    if verdict is None:
        return source, f"must be one of {', '.join(VERDICTS)}, got {decision!r:.60}"
    event.update(
        layer=get("tollgate.layer") or "execution",
        policy=get("security.policy.name") or get("gen_ai.guardian.name"),
        verdict=verdict,
        violation=get("tollgate.violation"),
        severity=get("tollgate.severity"),
        false_positive=get("tollgate.false_positive"),
        check_latency_ms=duration_ms,
        policy_version=get("tollgate.policy_version"),
    )
    return None


def _failure(error_type: Any) -> str:
    """`timeout` or `rate_limited` when `error.type` says so, else `error`."""
    if isinstance(error_type, str):
        lowered = error_type.lower()
        if any(hint in lowered for hint in TIMEOUT_HINTS):
            return "timeout"
        if any(hint in lowered for hint in RATE_LIMIT_HINTS):
            return "rate_limited"
    return "error"


def _read_attributes(span: Span) -> dict[str, Any]:
    """The span's attributes that the mapping reads, resolved as `_scalar` does (inlined: this
    loop is most of a span's cost, and spans carry many attributes it skips)."""
    found: dict[str, Any] = {}
    for kv in span.attributes:
        key = kv.key
        if key in READ_ATTRIBUTES:
            value = kv.value
            kind = value.WhichOneof("value")
            found[key] = getattr(value, kind) if kind in _SCALARS else (value if kind else None)
    return found


def _scalar(value: AnyValue | None) -> Any:
    """A string, bool, int or float attribute as itself; None when absent or empty. Arrays,
    maps and bytes are returned as they are, for validation to refuse with a message."""
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    return getattr(value, kind) if kind in _SCALARS else value


def _whole(number: Any, default: int | None) -> Any:
    """A count: an int, or a float with no fraction (some SDKs send every number as a
    double); anything else as it is, for validation to refuse."""
    if number is None:
        return default
    if type(number) is float and number.is_integer():
        return int(number)
    return number

"""Building OTLP export requests for tests, through opentelemetry-proto's generated classes, and
their OTLP JSON form as the specification writes it (hex ids, int64 as strings)."""

from __future__ import annotations

import base64
import os
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tollgate.demo.spans import key_values


def chat_attributes(**overrides: Any) -> dict[str, Any]:
    """A GenAI chat span's attributes as the semantic conventions write them."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-5.4",
        "gen_ai.response.model": "gpt-5.4",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
    }
    attributes.update(overrides)
    return {key: value for key, value in attributes.items() if value is not None}


def guardrail_attributes(**overrides: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "apply_guardrail",
        "gen_ai.security.decision.type": "deny",
        "security.policy.name": "pii-filter",
    }
    attributes.update(overrides)
    return {key: value for key, value in attributes.items() if value is not None}


def span(
    attributes: dict[str, Any],
    *,
    name: str = "chat gpt-5.4",
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    start: datetime | None = None,
    duration_ms: float = 140.5,
    error: bool = False,
) -> Span:
    start = start or timezone.now() - timedelta(minutes=1)
    start_ns = int(start.timestamp()) * 10**9 + start.microsecond * 1000
    return Span(
        trace_id=os.urandom(16) if trace_id is None else trace_id,
        span_id=os.urandom(8) if span_id is None else span_id,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + int(duration_ms * 1e6),
        attributes=key_values(attributes),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
    )


def export(*spans: Span, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        key_values({"service.name": "router"} if resource is None else resource)
    )
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The request as OTLP JSON: protobuf's JSON mapping with hex trace and span ids and
    integer enums (the specification's rules)."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for item in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return document


def refusal(response: Any) -> tuple[int, str, str | None]:
    """An OTLP refusal's `google.rpc.Status` (in the response's encoding): its gRPC code, its
    message and the field its BadRequest detail names (None without one)."""
    status = status_pb2.Status()
    if response["Content-Type"].startswith("application/x-protobuf"):
        status.ParseFromString(response.content)
    else:
        json_format.Parse(response.content, status)
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        fields += [violation.field for violation in bad_request.field_violations]
    return status.code, status.message, fields[0] if fields else None

"""OTLP/HTTP bodies: an `ExportTraceServiceRequest` from protobuf or OTLP JSON, and the
`ExportTraceServiceResponse` (or, for a refused request, the `google.rpc.Status` OTLP/HTTP
answers errors with) in the request's encoding, all through generated classes:
opentelemetry-proto's and googleapis-common-protos'.

OTLP JSON is protobuf's JSON mapping with one difference: trace and span ids are hex strings,
not base64. They are turned into base64 before `json_format` reads the document, so a hex id
that happens to be valid base64 is never read as base64.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
# (field, its length in bytes) of the ids OTLP JSON writes in hex.
SPAN_IDS = (("traceId", 16), ("spanId", 8), ("parentSpanId", 8))
LINK_IDS = (("traceId", 16), ("spanId", 8))
_HEX = re.compile(r"[0-9a-fA-F]+")
# The gRPC code a refusal's HTTP status stands for (OTLP/HTTP's Status carries one).
GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


class OtlpBodyError(ValueError):
    """A body that is not an ExportTraceServiceRequest; `field` names the part at fault."""

    def __init__(self, message: str, *, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


def request_decode(body: bytes, media_type: str) -> ExportTraceServiceRequest:
    """The export request in `body` (protobuf or OTLP JSON, by media type)."""
    request = ExportTraceServiceRequest()
    if media_type == PROTOBUF:
        try:
            request.ParseFromString(body)
            return request
        except DecodeError as exc:
            raise OtlpBodyError(f"The body is not an OTLP protobuf export request: {exc}") from None
    if media_type != JSON:
        raise ValueError(f"unsupported media type {media_type!r}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpBodyError(f"The body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpBodyError("The body must be an OTLP JSON object with resourceSpans.")
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
        return request
    except (json_format.ParseError, RecursionError) as exc:
        raise OtlpBodyError(f"The body is not an OTLP JSON export request: {exc}") from None


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """Rewrite the hex trace and span ids of an OTLP JSON document as base64, in place; what
    is not shaped like OTLP is left for `json_format` to refuse."""
    for r, resource_spans in _items(_either(document, "resourceSpans", "resource_spans")):
        for s, scope_spans in _items(_either(resource_spans, "scopeSpans", "scope_spans")):
            for n, span in _items(scope_spans.get("spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                _convert(span, SPAN_IDS, where)
                for k, link in _items(span.get("links")):
                    _convert(link, LINK_IDS, f"{where}.links[{k}]")


def _either(item: dict[str, Any], camel: str, snake: str) -> Any:
    return item.get(camel, item.get(snake))


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def _convert(item: dict[str, Any], ids: tuple[tuple[str, int], ...], where: str) -> None:
    for camel, size in ids:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
        for key in (camel, snake):
            value = item.get(key)
            if not isinstance(value, str) or not value:  # absent or empty: json_format's turn
                continue
            if _HEX.fullmatch(value) is None or len(value) != size * 2:
                raise OtlpBodyError(
                    f"{where}.{camel} must be {size * 2} hex digits (OTLP JSON), got {value!r:.80}",
                    field=f"{where}.{camel}",
                )
            item[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def response_encode(*, rejected_spans: int, error_message: str, media_type: str) -> bytes:
    """The `ExportTraceServiceResponse` in the request's encoding; `partial_success` is set
    only when spans were rejected (OTLP: unset means every span was accepted)."""
    response = ExportTraceServiceResponse()
    if rejected_spans:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected_spans, error_message=error_message)
        )
    encoded: bytes = (
        response.SerializeToString()
        if media_type == PROTOBUF
        else json_format.MessageToJson(response, indent=None).encode()
    )
    return encoded


def status_encode(*, http_status: int, message: str, field: str | None, media_type: str) -> bytes:
    """A refusal as OTLP/HTTP's `google.rpc.Status` in `media_type` (JSON unless protobuf):
    the gRPC code of the HTTP status, the message (naming the field at fault, once), and the
    field, when one is known, as a `google.rpc.BadRequest` field violation in `details`."""
    status = status_pb2.Status(
        code=GRPC_CODES.get(http_status, code_pb2.UNKNOWN),
        message=f"{field}: {message}" if field and field not in message else message,
    )
    if field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    encoded: bytes = (
        status.SerializeToString()
        if media_type == PROTOBUF
        else json_format.MessageToJson(status, indent=None).encode()
    )
    return encoded

"""`POST /v1/traces`: OTLP/HTTP trace intake. The same keys, limits and answers as the ingest
API and the same hot path behind it; only the body's decoder differs.

Refusals (400, 401, 403, 413, 415, 429, 503) are OTLP/HTTP's `google.rpc.Status` in the
request's encoding (JSON for a body of another type), its message naming the field at fault as
the ingest API's `field` does; their headers (`Retry-After`, `WWW-Authenticate`) are kept.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from governance.authentication import ApiKeyAuthentication, HasKeyScope
from governance.models import ApiKey, ApiKeyScope
from governance.services import api_key_touch
from governance.throttling import ApiKeyRateThrottle
from ingestion.api.body import BadBody, PayloadTooLarge, raw_body
from ingestion.otlp.codec import (
    JSON,
    MEDIA_TYPES,
    OtlpBodyError,
    request_decode,
    response_encode,
    status_encode,
)
from ingestion.otlp.mapping import spans_map
from ingestion.services import spans_ingest
from tollgate.db import database_errors

logger = logging.getLogger(__name__)


class StorageUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Storage is unavailable; retry later."
    default_code = "storage_unavailable"


class OtlpTracesView(APIView):
    """Accept an OTLP `ExportTraceServiceRequest`; GenAI and guardrail spans become events."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasKeyScope]
    throttle_classes = [ApiKeyRateThrottle]
    required_scope = ApiKeyScope.INGEST
    parser_classes: list[Any] = []  # the body is read raw, within the limits

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # Errors are JSON whatever an exporter's Accept says; success is written by hand.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        """The ingest API's refusal (status, headers, message and field) as a Status, a lost
        database included (elsewhere the middleware's JSON 503). (DRF finalizes any
        HttpResponse; its stubs ask for a Response.)"""
        if isinstance(exc, database_errors()):
            logger.warning("database unavailable; answering 503", exc_info=True)
            exc = StorageUnavailable()
        refusal = super().handle_exception(exc)
        data = getattr(refusal, "data", None) or {}
        media_type = self.request.content_type.split(";")[0].strip().lower()
        media_type = media_type if media_type in MEDIA_TYPES else JSON
        response = HttpResponse(
            status_encode(
                http_status=refusal.status_code,
                message=str(data.get("detail", refusal.reason_phrase)),
                field=data.get("field"),
                media_type=media_type,
            ),
            status=refusal.status_code,
            content_type=media_type,
        )
        for header in ("Retry-After", "WWW-Authenticate", "Allow"):
            if header in refusal:
                response[header] = refusal[header]
        if refusal.status_code == 503 and "Retry-After" not in response:
            response["Retry-After"] = str(settings.TOLLGATE_RETRY_AFTER_S)
        return response

    # Protobuf cannot be described in the OpenAPI schema; tests/ingestion/test_otlp_fuzz.py
    # fuzzes this endpoint instead of schemathesis.
    @extend_schema(exclude=True)
    def post(self, request: Request) -> HttpResponse:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):  # HasKeyScope admits nothing else; kept so here
            raise exceptions.NotAuthenticated()
        media_type, body = raw_body(
            request, limit=settings.TOLLGATE_INGEST_MAX_BYTES, media_types=MEDIA_TYPES
        )
        try:
            export = request_decode(body, media_type)
        except OtlpBodyError as exc:
            raise BadBody(str(exc), field=exc.field, code="invalid_otlp") from None
        spans = spans_map(export)
        # The event cap counts the spans that become events; other spans are ignored and
        # bounded by the size limit alone.
        if spans.candidates > settings.TOLLGATE_INGEST_MAX_EVENTS:
            raise PayloadTooLarge(
                f"the export holds {spans.candidates} GenAI and guardrail spans; at most "
                f"{settings.TOLLGATE_INGEST_MAX_EVENTS} are accepted."
            )
        now = timezone.now()
        result = spans_ingest(api_key=api_key, spans=spans, now=now)
        api_key_touch(api_key=api_key, now=now)
        answer = response_encode(
            rejected_spans=result.rejected_spans,
            error_message=result.error_message,
            media_type=media_type,
        )
        return HttpResponse(answer, content_type=media_type)

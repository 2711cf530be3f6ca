"""`POST /v1/traces`: OTLP/HTTP trace intake. The same keys, limits and answers as the ingest
API and the same hot path behind it; only the body's decoder differs.

Errors (400, 401, 403, 413, 415, 429, 503) are the ingest API's JSON bodies (`detail`, `code`,
`field`) whatever the request's encoding: OTLP's `google.rpc.Status` needs generated classes
this project does not ship.
"""

from __future__ import annotations

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
from ingestion.otlp.codec import MEDIA_TYPES, OtlpBodyError, request_decode, response_encode
from ingestion.otlp.mapping import spans_map
from ingestion.services import spans_ingest


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

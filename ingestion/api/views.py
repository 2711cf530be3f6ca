"""`POST /api/v1/ingest`: authenticate, limit, read the body, hand the batch to the service."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.authentication import ApiKeyAuthentication, HasKeyScope
from governance.models import ApiKey, ApiKeyScope
from governance.services import api_key_touch
from governance.throttling import ApiKeyRateThrottle
from ingestion.api.body import BadBody, PayloadTooLarge, json_body
from ingestion.api.serializers import IngestBatchSerializer, IngestResultSerializer
from ingestion.services import events_ingest
from tollgate.exceptions import ErrorSerializer


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


class IngestView(APIView):
    """Accept a batch of up to 1,000 routing and enforcement events."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasKeyScope]
    throttle_classes = [ApiKeyRateThrottle]
    required_scope = ApiKeyScope.INGEST

    @extend_schema(
        operation_id="ingest_events",
        request=IngestBatchSerializer,
        responses={
            200: OpenApiResponse(IngestResultSerializer, description="Every event accepted."),
            207: OpenApiResponse(IngestResultSerializer, description="Some events rejected."),
            400: _error("The body is not JSON, not the envelope, or empty."),
            401: _error("Missing or unknown API key."),
            403: _error("Revoked key, or a key without the ingest scope."),
            413: _error("More than 1,000 events, or more than 5 MiB decompressed."),
            415: _error("Not application/json, or an unsupported Content-Encoding."),
            429: _error("The key's rate limit is exceeded; see Retry-After."),
            503: _error("Storage is unavailable; see Retry-After."),
        },
        parameters=[
            OpenApiParameter(
                "Content-Encoding", OpenApiTypes.STR, OpenApiParameter.HEADER, enum=["gzip"]
            ),
            OpenApiParameter(
                "Retry-After",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                response=[429, 503],
                description="Seconds to wait before retrying.",
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):  # HasKeyScope admits nothing else; kept so here
            raise exceptions.NotAuthenticated()
        document = json_body(request, limit=settings.TOLLGATE_INGEST_MAX_BYTES)
        if not isinstance(document, dict) or "batch" not in document:
            raise BadBody('The body must be an object {"batch": [event, ...]}.', field="batch")
        events = document["batch"]
        if not isinstance(events, list):
            raise BadBody("batch must be a list of events.", field="batch")
        if not events:
            raise BadBody("batch is empty.", field="batch", code="empty_batch")
        if len(events) > settings.TOLLGATE_INGEST_MAX_EVENTS:
            raise PayloadTooLarge(
                f"batch holds {len(events)} events; at most "
                f"{settings.TOLLGATE_INGEST_MAX_EVENTS} are accepted."
            )
        now = timezone.now()
        result = events_ingest(api_key=api_key, events=events, now=now)
        api_key_touch(api_key=api_key, now=now)
        answer = status.HTTP_200_OK if result.rejected == 0 else status.HTTP_207_MULTI_STATUS
        return Response(result.as_dict(), status=answer)

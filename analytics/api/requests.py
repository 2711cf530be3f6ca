"""One request over the API (DESIGN.md "api/v1/requests"): its attempts and checks, read
through ingestion.selectors, for a read key of its project or a member of its organization."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.alerts import listed_scope
from analytics.api.answers import money_text
from analytics.api.params import BadParameter
from analytics.api.views import ERRORS, MetricsView
from analytics.metrics.query import money
from ingestion.selectors import RequestAttempt, RequestCheck, RequestTrace, request_traces
from tollgate.exceptions import ErrorSerializer

Answer = dict[str, Any]


class AttemptSerializer(serializers.Serializer):
    """A routing event of the request (documentation of the answer)."""

    event_id = serializers.UUIDField()
    timestamp = serializers.DateTimeField()
    model = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField()
    error_type = serializers.CharField()
    fallback_from = serializers.CharField()
    latency_ms = serializers.FloatField()
    routing_latency_ms = serializers.FloatField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.CharField(
        allow_null=True, help_text="Reported cost, else priced; 6 places; null when unpriced."
    )
    mode = serializers.CharField()
    router_version = serializers.CharField(allow_null=True, help_text="Null when not sent.")


class CheckSerializer(serializers.Serializer):
    """An enforcement event of the request (documentation of the answer)."""

    event_id = serializers.UUIDField()
    timestamp = serializers.DateTimeField()
    layer = serializers.CharField()
    policy = serializers.CharField()
    verdict = serializers.CharField()
    violation = serializers.CharField(allow_null=True)
    severity = serializers.CharField(allow_null=True)
    false_positive = serializers.BooleanField()
    check_latency_ms = serializers.FloatField()
    mode = serializers.CharField(allow_null=True, help_text="Null when not sent.")
    policy_version = serializers.CharField(allow_null=True, help_text="Null when not sent.")


class RequestSerializer(serializers.Serializer):
    """The answer of GET /api/v1/requests/<request_id>."""

    request_id = serializers.CharField()
    project = serializers.CharField()
    service = serializers.CharField()
    mode = serializers.CharField(
        allow_null=True,
        help_text="The first attempt's mode, else the first check's that carries one; else null.",
    )
    attempts = AttemptSerializer(many=True, help_text="Routing events in time order.")
    checks = CheckSerializer(many=True, help_text="Enforcement events in time order.")


ATTEMPT_FIELDS = tuple(AttemptSerializer().fields)
CHECK_FIELDS = tuple(CheckSerializer().fields)


def event_answer(event: RequestAttempt | RequestCheck, fields: tuple[str, ...]) -> Answer:
    """An attempt or a check as the API answers it: the documented fields, ids and times as
    text, money (an attempt's reported else priced cost) to six places."""
    return {name: _json_value(getattr(event, name)) for name in fields}


def _json_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return money_text(money(value))
    return value


def request_answer(trace: RequestTrace) -> Answer:
    """The whole answer: the request's header, then its attempts and checks in time order."""
    return {
        "request_id": trace.request_id,
        "project": trace.project,
        "service": trace.service,
        "mode": trace.mode,
        "attempts": [event_answer(attempt, ATTEMPT_FIELDS) for attempt in trace.attempts],
        "checks": [event_answer(check, CHECK_FIELDS) for check in trace.checks],
    }


class RequestView(MetricsView):
    """GET /api/v1/requests/<request_id>: JSON only (a request is not a table)."""

    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="requests_retrieve",
        parameters=[
            OpenApiParameter(
                "project",
                str,
                description="Project name: which project's request, when the id is in several.",
            )
        ],
        responses={
            200: RequestSerializer,
            **ERRORS,
            404: OpenApiResponse(
                ErrorSerializer, description="No such request in the projects you can see."
            ),
        },
    )
    def get(self, request: Request, request_id: str) -> Response:
        """A request's attempts and checks, each in time order.

        A read key sees its own project's requests; a signed-in member every project of the
        organization. Request ids are unique only within a project: `?project=` chooses one;
        without it the single project that has the id answers, and an id found in several
        projects is a 400 on `project` naming them (the caller must choose, not get one at
        random). Another organization's request, or none, is a 404.
        """
        organization_id, project_ids = listed_scope(request)
        traces = request_traces(
            request_id=request_id,
            organization_id=organization_id,
            project_ids=project_ids,
        )
        if not traces:
            raise NotFound(f"No request {request_id!r} in the projects you can see.")
        if len(traces) > 1:
            names = ", ".join(trace.project for trace in traces)
            raise BadParameter(
                "project", f"request {request_id!r} is in several projects ({names}); name one"
            )
        return Response(request_answer(traces[0]))

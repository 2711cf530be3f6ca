"""The metrics API (DESIGN.md "Metrics API (read)"): thin views over analytics.metrics,
answered through analytics.api.answers."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.answers import (
    compare_row_answer,
    drift_answer,
    layer_answer,
    model_answer,
    point_answer,
    policy_answer,
    rollout_answer,
    summary_answer,
    window_answer,
)
from analytics.api.params import MODE_CHOICES, BadParameter, choice, metrics_query
from analytics.api.renderers import CsvRenderer
from analytics.metrics.breakdowns import metrics_layers, metrics_models, metrics_policies
from analytics.metrics.compare import metrics_compare
from analytics.metrics.drift import metrics_drift
from analytics.metrics.query import MetricsQuery
from analytics.metrics.rollouts import rollouts_list
from analytics.metrics.summary import metrics_summary
from analytics.metrics.timeseries import (
    GROUPS,
    SERIES_METRICS,
    UnsupportedGrouping,
    metrics_timeseries,
)
from governance.authentication import ApiKeyAuthentication
from governance.models import ApiKey, ApiKeyScope, Membership
from governance.throttling import ApiKeyRateThrottle
from tollgate.exceptions import ErrorSerializer


def caller_scope(request: Request) -> tuple[int, tuple[int, ...] | None]:
    """The caller's organization, and the projects a read key is limited to (None: all)."""
    if isinstance(request.auth, ApiKey):
        return request.auth.project.organization_id, (request.auth.project_id,)
    user = request.user
    if not user.is_authenticated:  # CanReadMetrics admits only keys and signed-in members
        raise exceptions.NotAuthenticated()
    return Membership.objects.get(user=user).organization_id, None


class CanReadMetrics(permissions.BasePermission):
    """A read-scoped API key, or a signed-in member of an organization."""

    message = (
        "Reading metrics needs a read-scoped API key or a signed-in member of an organization."
    )

    def has_permission(self, request: Request, view: object) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.scope == ApiKeyScope.READ
        user = request.user
        return bool(
            user and user.is_authenticated and Membership.objects.filter(user=user).exists()
        )


FILTERS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.DATETIME,
        description="Window start (RFC 3339), taken to the minute; default 24 h before `to`.",
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATETIME,
        description="Window end, exclusive, taken to the minute; default now.",
    ),
    OpenApiParameter(
        "project", OpenApiTypes.STR, description="Project name; default all projects you can see."
    ),
    OpenApiParameter("service", OpenApiTypes.STR, description="Service name."),
    OpenApiParameter("model", OpenApiTypes.STR),
    OpenApiParameter(
        "mode",
        OpenApiTypes.STR,
        enum=list(MODE_CHOICES),
        description="The requests' mode; `unknown`: requests no event told a mode of.",
    ),
    OpenApiParameter("environment", OpenApiTypes.STR),
    OpenApiParameter(
        "policy",
        OpenApiTypes.STR,
        description="Policy name (at most 100 characters); narrows checks: layers, policies, "
        "check cost and check series. Requests and attempts carry no policy.",
    ),
    OpenApiParameter(
        "format", OpenApiTypes.STR, enum=["json", "csv"], description="csv for a spreadsheet."
    ),
]
ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer, description="A parameter is not valid; `field` names it."
    ),
    401: OpenApiResponse(ErrorSerializer, description="No credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Credentials that may not read metrics."),
    429: OpenApiResponse(ErrorSerializer, description="The key's rate limit is exceeded."),
}


class MetricsView(APIView):
    """Shared plumbing: who may read, which projects they see, JSON or CSV."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [CanReadMetrics]
    throttle_classes = [ApiKeyRateThrottle]
    renderer_classes = [JSONRenderer, CsvRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to an unknown ?format=
            formats = " or ".join(renderer.format for renderer in self.renderer_classes)
            raise BadParameter("format", f"must be {formats}") from None

    def metrics_query(self, request: Request) -> MetricsQuery:
        organization_id, _ = caller_scope(request)
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        return metrics_query(request.query_params, organization_id=organization_id, api_key=api_key)

    @staticmethod
    def table(query: MetricsQuery, rows: list[dict[str, Any]]) -> Response:
        return Response({"window": window_answer(query), "rows": rows})


class SummaryView(MetricsView):
    @extend_schema(
        operation_id="metrics_summary",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Headline figures for the window: volume, reliability, latency, cost, enforcement, ROI."""
        query = self.metrics_query(request)
        return Response(summary_answer(metrics_summary(query), query))


class ModelsView(MetricsView):
    @extend_schema(
        operation_id="metrics_models",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """A row per model: attempts, share, cost, latency percentiles, error rate."""
        query = self.metrics_query(request)
        return self.table(query, [model_answer(row) for row in metrics_models(query)])


class LayersView(MetricsView):
    @extend_schema(
        operation_id="metrics_layers",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """A row per enforcement layer (model and mode filters do not apply to checks)."""
        query = self.metrics_query(request)
        return self.table(query, [layer_answer(row) for row in metrics_layers(query)])


class PoliciesView(MetricsView):
    @extend_schema(
        operation_id="metrics_policies",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """A row per policy, the most intercepting first: checks, blocks, modifies, flags,
        interception rate, false positives, check latency and check cost (model and mode
        filters do not apply to checks)."""
        query = self.metrics_query(request)
        return self.table(query, [policy_answer(row) for row in metrics_policies(query)])


class TimeseriesView(MetricsView):
    @extend_schema(
        operation_id="metrics_timeseries",
        parameters=[
            *FILTERS,
            OpenApiParameter(
                "metric", OpenApiTypes.STR, enum=sorted(SERIES_METRICS), required=True
            ),
            OpenApiParameter("interval", OpenApiTypes.STR, enum=["minute", "hour", "day"]),
            OpenApiParameter("group_by", OpenApiTypes.STR, enum=sorted(GROUPS)),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """One metric per interval, optionally one series per model, service, mode, layer or
        policy (layer and policy for the check metrics)."""
        query = self.metrics_query(request)
        params = request.query_params
        metric = choice(params, "metric", tuple(sorted(SERIES_METRICS)), None)
        if metric is None:
            raise BadParameter("metric", "is required")
        interval = choice(params, "interval", ("minute", "hour", "day"), "hour")
        group_by = choice(params, "group_by", tuple(sorted(GROUPS)), None)
        points = (query.window.end - query.window.start) / {
            "minute": 60,
            "hour": 3600,
            "day": 86400,
        }[interval]
        if points.total_seconds() > 5000:
            raise BadParameter(
                "interval", "gives more than 5,000 points for this window; use a coarser one"
            )
        try:
            series = metrics_timeseries(query, metric=metric, interval=interval, group_by=group_by)
        except UnsupportedGrouping as exc:
            raise BadParameter("group_by", str(exc)) from None
        grouped = group_by is not None
        return self.table(query, [point_answer(point, grouped=grouped) for point in series])


class DriftView(MetricsView):
    @extend_schema(
        operation_id="metrics_drift",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Per project: PSI of the model mix against the expected mix, and band conformance."""
        query = self.metrics_query(request)
        return self.table(query, [drift_answer(row) for row in metrics_drift(query)])


class CompareView(MetricsView):
    @extend_schema(
        operation_id="compare",
        parameters=[parameter for parameter in FILTERS if parameter.name != "mode"],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """A row per mode with requests in the window (routing_first, enforcement_first,
        hybrid, then unknown): traffic, latency, cost, security, reliability and
        observability, each figure as `/metrics/summary?mode=` gives it, the article's
        reference figures for the mode and where each lies against them. The comparison is
        across modes, so `mode` is not a filter here."""
        if "mode" in request.query_params:
            raise BadParameter(
                "mode", "is not a filter of the comparison, which has a row per mode"
            )
        query = self.metrics_query(request)
        rows = [compare_row_answer(row) for row in metrics_compare(query).rows]
        return Response({"window": window_answer(query), "modes": rows})


class RolloutsView(MetricsView):
    @extend_schema(
        operation_id="rollouts",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """A row per rollout of a router or policy version that started in the window, in time
        order: the version it replaced, how long older versions kept answering
        (`propagation_s`) and the share of the events meanwhile that carried one. `mode` is
        the events' own; `policy` keeps that policy's rollouts; `model` does not apply."""
        query = self.metrics_query(request)
        return self.table(query, [rollout_answer(row) for row in rollouts_list(query)])

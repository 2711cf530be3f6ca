"""A project's advice over the API (DESIGN.md "Architecture comparison and advice"): which
architecture its profile calls for, what its traffic runs, and the findings between them."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.answers import advice_answer
from analytics.api.params import BadParameter, UnknownProject
from analytics.api.views import ERRORS, FILTERS, MetricsView
from analytics.metrics.advice import project_advice
from tollgate.exceptions import ErrorSerializer


class AdviceView(MetricsView):
    """GET /api/v1/advice?project=P: JSON only (advice is not a table)."""

    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="advice",
        parameters=[
            OpenApiParameter(
                "project", OpenApiTypes.STR, required=True, description="Project name."
            ),
            *(p for p in FILTERS if p.name not in ("project", "mode", "format")),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            **ERRORS,
            404: OpenApiResponse(
                ErrorSerializer, description="No such project among those you can see."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        """The project's profile, the votes of its answers, the recommended mode and layers
        with the reasons, what the window's traffic measures (the mode of most requests, the
        layers checks were seen at, and that mode's `/compare` row) and the findings that
        hold. `mode` is not a filter here: advice asks which mode runs. A read key answers
        for its own project; another project, or another organization's, is a 404."""
        if "mode" in request.query_params:
            raise BadParameter("mode", "is not a filter of advice, which measures the mode run")
        if not request.query_params.get("project"):
            raise BadParameter("project", "is required")
        try:
            query = self.metrics_query(request)
        except UnknownProject as unknown:
            raise NotFound(unknown.message) from None
        (project,) = query.projects
        return Response(advice_answer(project_advice(query, project), query))

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
from analytics.api.params import BadParameter
from analytics.api.views import ERRORS, FILTERS, MetricsView, caller_scope
from analytics.metrics.advice import project_advice
from governance.models import Project
from tollgate.exceptions import ErrorSerializer

PROJECT_NAME_MAX = 200  # as the metrics API takes a name


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
        params = request.query_params
        if "mode" in params:
            raise BadParameter("mode", "is not a filter of advice, which measures the mode run")
        name = params.get("project")
        if not name:
            raise BadParameter("project", "is required")
        if len(name) > PROJECT_NAME_MAX or "\x00" in name:
            raise BadParameter("project", "is not a valid value")
        organization_id, project_ids = caller_scope(request)
        projects = Project.objects.filter(organization_id=organization_id, name=name)
        if project_ids is not None:
            projects = projects.filter(pk__in=project_ids)
        project = projects.first()
        if project is None:
            raise NotFound(f"No project {name!r} among those you can see.")
        query = self.metrics_query(request)
        return Response(advice_answer(project_advice(query, project), query))

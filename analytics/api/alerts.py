"""Budgets and alerts over the API: read with a session or read key; acknowledge and silence
as a signed-in ops or admin member (keys never change anything here)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.alerts.actions import alert_acknowledge, alert_silence
from analytics.alerts.selectors import alert_answer, alerts_for
from analytics.api.answers import budget_answer
from analytics.api.params import (
    BadParameter,
    choice,
    is_row_id,
    moment_param,
    project_ids_param,
)
from analytics.api.views import ERRORS, MetricsView, caller_scope
from analytics.metrics.budgets import budgets_for
from analytics.models import AlertState
from governance.authentication import ApiKeyAuthentication
from governance.models import AlertKind, ApiKey, Membership, Role, Severity
from tollgate.exceptions import ErrorSerializer

PROJECT = OpenApiParameter(
    "project", OpenApiTypes.STR, description="Project name; default all projects you can see."
)


def listed_scope(request: Request) -> tuple[int, tuple[int, ...] | None]:
    """The caller's organization and the projects a list shows: the caller's own scope,
    narrowed by `?project=` (400 for a project the caller cannot see)."""
    organization_id, project_ids = caller_scope(request)
    project_ids = project_ids_param(
        request.query_params, organization_id=organization_id, project_ids=project_ids
    )
    return organization_id, project_ids


class BudgetsView(MetricsView):
    @extend_schema(
        operation_id="budgets_list",
        parameters=[PROJECT],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Every active budget with spent, run rate, forecast, percent and status (with
        `project`, only that project's budgets)."""
        organization_id, project_ids = listed_scope(request)
        burns = budgets_for(
            organization_id=organization_id, project_ids=project_ids, now=timezone.now()
        )
        return Response({"rows": [budget_answer(burn) for burn in burns]})


class AlertsView(MetricsView):
    @extend_schema(
        operation_id="alerts_list",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=AlertState.values),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=AlertKind.values),
            OpenApiParameter("severity", OpenApiTypes.STR, enum=Severity.values),
            PROJECT,
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Alerts of your organization, newest change first (at most 500)."""
        organization_id, project_ids = listed_scope(request)
        params = request.query_params
        filters = {
            name: value
            for name, value in (
                ("state", choice(params, "state", tuple(AlertState.values), None)),
                ("kind", choice(params, "kind", tuple(AlertKind.values), None)),
                ("severity", choice(params, "severity", tuple(Severity.values), None)),
            )
            if value is not None
        }
        alerts = alerts_for(
            organization_id=organization_id, project_ids=project_ids, filters=filters
        )
        return Response({"rows": [alert_answer(alert) for alert in alerts[:500]]})


KEYS_CANNOT_ACT = (
    "Alert actions need a signed-in member of the organization (session and CSRF token); "
    "API keys cannot acknowledge or silence alerts."
)


class CanActOnAlerts(permissions.BasePermission):
    message = "Acknowledging and silencing alerts is for signed-in ops and admin members."

    def has_permission(self, request: Request, view: object) -> bool:
        if isinstance(request.auth, ApiKey):
            # A key authenticates (so it is not told it sent no credentials) and is refused
            # with what these actions need instead.
            self.message, self.code = KEYS_CANNOT_ACT, "session_required"
            return False
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and Membership.objects.filter(user=user, role__in=(Role.OPS, Role.ADMIN)).exists()
        )


ACTION_ERRORS = {
    **ERRORS,
    403: OpenApiResponse(
        ErrorSerializer,
        description="Not a signed-in ops or admin member, no CSRF token, or an API key "
        "(`session_required`: keys cannot act on alerts).",
    ),
    404: OpenApiResponse(ErrorSerializer, description="No such alert in your organization."),
}


class AlertActionView(APIView):
    # Keys are recognised only to be refused clearly (CanActOnAlerts); the session comes
    # first, so an anonymous caller is answered as before: 403, no credentials.
    authentication_classes = [SessionAuthentication, ApiKeyAuthentication]  # CSRF-checked
    permission_classes = [CanActOnAlerts]

    def alert(self, request: Request, alert_id: str) -> Any:
        # The path takes any segment so a malformed id is a JSON 404 from DRF, not Django's page.
        if not is_row_id(alert_id):
            raise Http404
        organization_id, _ = caller_scope(request)
        return get_object_or_404(
            alerts_for(organization_id=organization_id, project_ids=None, filters={}),
            pk=alert_id,
        )


class AlertAcknowledgeView(AlertActionView):
    @extend_schema(
        operation_id="alerts_acknowledge",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ACTION_ERRORS},
    )
    def post(self, request: Request, alert_id: str) -> Response:
        """Acknowledge a pending or firing alert: reminders stop until it resolves."""
        try:
            alert = alert_acknowledge(
                self.alert(request, alert_id), user=request.user, now=timezone.now()
            )
        except ValueError as exc:
            raise BadParameter("state", str(exc)) from None
        return Response(alert_answer(alert))


class AlertSilenceView(AlertActionView):
    @extend_schema(
        operation_id="alerts_silence",
        request={
            "application/json": {
                "type": "object",
                "properties": {"until": {"type": "string", "format": "date-time"}},
                "required": ["until"],
            }
        },
        responses={200: OpenApiTypes.OBJECT, **ACTION_ERRORS},
    )
    def post(self, request: Request, alert_id: str) -> Response:
        """Silence an alert's notifications until `until` (RFC 3339)."""
        raw = request.data.get("until") if isinstance(request.data, dict) else None
        until = moment_param({"until": raw}, "until") if isinstance(raw, str) else None
        if until is None:
            raise BadParameter("until", "is required, as an RFC 3339 time")
        try:
            alert = alert_silence(self.alert(request, alert_id), until=until, now=timezone.now())
        except ValueError as exc:
            raise BadParameter("until", str(exc)) from None
        return Response(alert_answer(alert))

"""Dashboard views: check the member, read the selection from the URL, call one page
function, render. Everything a page shows is built in `analytics.dashboard.pages`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from analytics.dashboard.access import can_act_on_alerts, forbidden, member_required
from analytics.dashboard.filters import (
    RANGE_LABELS,
    BadSelection,
    Selection,
    filter_options,
    selection_from,
)
from analytics.dashboard.pages.alerts import alert_in_organization, alerts_context, silence_for
from analytics.dashboard.pages.cost import cost_context, spend_csv, spend_tables
from analytics.dashboard.pages.enforcement import enforcement_context
from analytics.dashboard.pages.overview import overview_context
from analytics.dashboard.pages.reliability import reliability_context
from analytics.dashboard.pages.routing import routing_context
from analytics.selectors_alerts import alert_acknowledge
from governance.models import Membership

PAGES = (
    ("overview", "Overview"),
    ("reliability", "Reliability"),
    ("enforcement", "Enforcement"),
    ("routing", "Routing"),
    ("cost", "Cost and budgets"),
    ("alerts", "Alerts"),
)


def chrome(membership: Membership, selection: Selection | None, page: str) -> dict[str, Any]:
    """What every page shows around its figures: navigation that keeps the selection, the
    range links and filter boxes, and who is signed in."""
    query = f"?{selection.querystring}" if selection else ""
    return {
        "page": page,
        "member": membership,
        "can_act": can_act_on_alerts(membership),
        "selection": selection,
        "nav": [
            {"key": key, "label": label, "url": reverse(f"dashboard:{key}") + query}
            for key, label in PAGES
        ],
        "range_links": [
            {"key": key, "label": label, "query": selection.with_range(key)}
            for key, label in RANGE_LABELS.items()
            if key != "custom"
        ]
        if selection
        else [],
        "range_labels": RANGE_LABELS,
        "options": filter_options(organization_id=membership.organization_id),
    }


def _selection(request: HttpRequest, membership: Membership) -> Selection:
    return selection_from(
        request.GET, organization_id=membership.organization_id, now=timezone.now()
    )


def _page(
    request: HttpRequest,
    membership: Membership,
    page: str,
    build: Callable[[Selection], dict[str, Any]],
) -> HttpResponse:
    try:
        selection = _selection(request, membership)
    except BadSelection as exc:
        context = {**chrome(membership, None, page), "error": exc, "field": exc.field}
        return render(request, "dashboard/bad_selection.html", context, status=400)
    context = {**chrome(membership, selection, page), **build(selection)}
    return render(request, f"dashboard/{page}.html", context)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:overview")


@require_safe
@member_required
def overview(request: HttpRequest, membership: Membership) -> HttpResponse:
    organization_id = membership.organization_id
    return _page(
        request,
        membership,
        "overview",
        lambda selection: overview_context(selection, organization_id=organization_id),
    )


@require_safe
@member_required
def reliability(request: HttpRequest, membership: Membership) -> HttpResponse:
    organization_id = membership.organization_id
    return _page(
        request,
        membership,
        "reliability",
        lambda selection: reliability_context(selection, organization_id=organization_id),
    )


@require_safe
@member_required
def enforcement(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _page(request, membership, "enforcement", enforcement_context)


@require_safe
@member_required
def routing(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _page(request, membership, "routing", routing_context)


@require_safe
@member_required
def cost(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return _spend_csv(request, membership)
    organization_id = membership.organization_id
    return _page(
        request,
        membership,
        "cost",
        lambda selection: cost_context(
            selection, organization_id=organization_id, now=timezone.now()
        ),
    )


@require_safe
@member_required
def cost_csv(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _spend_csv(request, membership)


def _spend_csv(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The spend tables (by model, service, project) of the page's selection, as CSV."""
    try:
        selection = _selection(request, membership)
    except BadSelection as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    window = selection.window
    name = f"tollgate-spend-{window.start:%Y%m%dT%H%M}-{window.end:%Y%m%dT%H%M}.csv"
    response = HttpResponse(
        spend_csv(spend_tables(selection)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_safe
@member_required
def alerts(request: HttpRequest, membership: Membership) -> HttpResponse:
    raw = request.GET.get("alert", "")
    highlight = int(raw) if raw.isdigit() and len(raw) < 19 else None
    organization_id = membership.organization_id
    return _page(
        request,
        membership,
        "alerts",
        lambda selection: alerts_context(
            selection, organization_id=organization_id, highlight=highlight
        ),
    )


# --- Alert actions ------------------------------------------------------------------------


def _back(request: HttpRequest) -> HttpResponse:
    """To the page the form was on (only a path on this site), else the alerts page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(reverse("dashboard:alerts"))


def _alert_action(
    request: HttpRequest,
    membership: Membership,
    alert_id: int,
    act: Callable[[Any], Any],
    done: str,
) -> HttpResponse:
    if not can_act_on_alerts(membership):
        return forbidden(request, "Acknowledging and silencing alerts is for ops and admins.")
    alert = alert_in_organization(membership.organization_id, alert_id)
    if alert is None:
        return render(request, "dashboard/not_found.html", {"member": membership}, status=404)
    try:
        act(alert)
    except ValueError as exc:
        messages.error(request, f"Alert #{alert.pk} was not changed: {exc}.")
    else:
        messages.success(request, f"Alert #{alert.pk} {done}.")
    return _back(request)


@require_POST
@member_required
def alert_acknowledge_view(
    request: HttpRequest, membership: Membership, alert_id: int
) -> HttpResponse:
    return _alert_action(
        request,
        membership,
        alert_id,
        lambda alert: alert_acknowledge(alert, user=request.user, now=timezone.now()),
        "acknowledged",
    )


@require_POST
@member_required
def alert_silence_view(request: HttpRequest, membership: Membership, alert_id: int) -> HttpResponse:
    choice = request.POST.get("duration", "")
    return _alert_action(
        request,
        membership,
        alert_id,
        lambda alert: silence_for(alert, choice=choice, now=timezone.now()),
        "silenced",
    )

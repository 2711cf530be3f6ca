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

from analytics.alerts.actions import alert_acknowledge
from analytics.api.params import is_row_id
from analytics.dashboard.access import can_act_on_alerts, forbidden, member_required
from analytics.dashboard.filters import (
    RANGE_LABELS,
    BadSelection,
    Selection,
    alert_param,
    filter_options,
    selection_from,
)
from analytics.dashboard.pages.alert import alert_context
from analytics.dashboard.pages.alerts import alert_in_organization, alerts_context, silence_for
from analytics.dashboard.pages.architectures import architectures_context, without_mode
from analytics.dashboard.pages.cost import cost_context, spend_csv, spend_tables
from analytics.dashboard.pages.enforcement import enforcement_context
from analytics.dashboard.pages.interceptions import interceptions_context, narrowing_from
from analytics.dashboard.pages.overview import overview_context
from analytics.dashboard.pages.reliability import reliability_context
from analytics.dashboard.pages.requests import (
    BadRequestId,
    request_context,
    searched_request_id,
)
from analytics.dashboard.pages.routing import routing_context
from analytics.metrics.summary import repricings_in_progress
from governance.models import Membership

PAGES = (
    ("overview", "Overview"),
    ("reliability", "Reliability"),
    ("enforcement", "Enforcement"),
    ("routing", "Routing"),
    ("cost", "Cost and budgets"),
    ("architectures", "Architectures"),
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
        # Money figures of these projects are moving to new prices: say so on every page.
        "repricings": repricings_in_progress(selection.query.project_ids) if selection else [],
    }


def _selection(request: HttpRequest, membership: Membership) -> Selection:
    return selection_from(
        request.GET, organization_id=membership.organization_id, now=timezone.now()
    )


def _refused(
    request: HttpRequest, membership: Membership, page: str, refusal: BadSelection
) -> HttpResponse:
    """A 400 page naming the parameter that cannot be shown."""
    context = {**chrome(membership, None, page), "error": refusal, "field": refusal.field}
    return render(request, "dashboard/bad_selection.html", context, status=400)


def _page(
    request: HttpRequest,
    membership: Membership,
    page: str,
    build: Callable[..., dict[str, Any]],
    **options: Any,
) -> HttpResponse:
    """Render `page` with the context `build(selection, **options)` makes of the URL's
    selection, or the 400 page when the selection cannot be shown."""
    try:
        selection = _selection(request, membership)
    except BadSelection as refusal:
        return _refused(request, membership, page, refusal)
    context = {**chrome(membership, selection, page), **build(selection, **options)}
    return render(request, f"dashboard/{page}.html", context)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The site's root: the overview."""
    return redirect("dashboard:overview")


@require_safe
@member_required
def overview(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Health per project, headline figures against the previous window, firing alerts,
    traffic and spend."""
    return _page(
        request,
        membership,
        "overview",
        overview_context,
        organization_id=membership.organization_id,
        now=timezone.now(),
    )


@require_safe
@member_required
def reliability(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Latency, errors, availability and fallbacks per model, and model incidents."""
    organization_id = membership.organization_id
    return _page(
        request, membership, "reliability", reliability_context, organization_id=organization_id
    )


@require_safe
@member_required
def enforcement(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Checks, blocks and modifies per layer, interception and escaped violations."""
    return _page(request, membership, "enforcement", enforcement_context)


@require_safe
@member_required
def interceptions(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The latest blocked and modified requests of a layer (`?layer=`) or policy (the filter)."""
    try:
        narrowing = narrowing_from(request.GET)
        selection = _selection(request, membership)
    except BadSelection as refusal:
        return _refused(request, membership, "interceptions", refusal)
    context = {
        **chrome(membership, selection, "enforcement"),
        **interceptions_context(selection, narrowing=narrowing),
    }
    # The range links keep the layer too.
    suffix = context["narrowing_suffix"]
    for link in context["range_links"]:
        link["query"] += suffix
    return render(request, "dashboard/interceptions.html", context)


@require_safe
@member_required
def routing(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The model mix against the expected shares, drift and band conformance."""
    return _page(request, membership, "routing", routing_context)


@require_safe
@member_required
def cost(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Spend, savings, ROI and budgets; the CSV of its tables is at `cost.csv`."""
    if request.GET.get("format") == "csv":  # an older link to the CSV: it has one URL now
        kept = request.GET.copy()
        del kept["format"]
        query = kept.urlencode()
        return redirect(reverse("dashboard:cost-csv") + (f"?{query}" if query else ""))
    return _page(
        request,
        membership,
        "cost",
        cost_context,
        organization_id=membership.organization_id,
        now=timezone.now(),
    )


@require_safe
@member_required
def cost_csv(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The spend tables (by model, service, project) of the page's selection, as CSV."""
    try:
        selection = _selection(request, membership)
    except BadSelection as refusal:
        return HttpResponse(str(refusal), status=400, content_type="text/plain; charset=utf-8")
    window = selection.window
    name = f"tollgate-spend-{window.start:%Y%m%dT%H%M}-{window.end:%Y%m%dT%H%M}.csv"
    response = HttpResponse(
        spend_csv(spend_tables(selection)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_safe
@member_required
def architectures(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Routing-first, enforcement-first and hybrid side by side against the article's
    reference, and each project's advice. A column per mode: the mode filter is dropped
    (links from other pages may carry it), and the page says so."""
    try:
        selection = _selection(request, membership)
    except BadSelection as refusal:
        return _refused(request, membership, "architectures", refusal)
    mode_dropped = selection.query.applied.get("mode")
    selection = without_mode(selection)
    context = {
        **chrome(membership, selection, "architectures"),
        **architectures_context(selection),
        "mode_dropped": mode_dropped,
    }
    return render(request, "dashboard/architectures.html", context)


@require_safe
@member_required
def alerts(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Open, resolved and changed alerts; `?alert=<id>` highlights one (emailed links)."""
    try:
        highlight = alert_param(request.GET)
    except BadSelection as refusal:
        return _refused(request, membership, "alerts", refusal)
    return _page(
        request,
        membership,
        "alerts",
        alerts_context,
        organization_id=membership.organization_id,
        highlight=highlight,
    )


@require_safe
@member_required
def alert_detail(request: HttpRequest, membership: Membership, alert_id: str) -> HttpResponse:
    """One alert: its rule, state, history, measured value against its threshold,
    deliveries, and the acknowledge and silence forms."""
    alert = (
        alert_in_organization(membership.organization_id, int(alert_id))
        if is_row_id(alert_id)
        else None
    )
    if alert is None:
        return not_found(
            request, membership, f"There is no alert #{alert_id} in your organization."
        )
    context = alert_context(alert, now=timezone.now())
    return render(
        request, "dashboard/alert.html", {**chrome(membership, None, "alerts"), **context}
    )


# --- Requests -----------------------------------------------------------------------------


def not_found(request: HttpRequest, membership: Membership, message: str) -> HttpResponse:
    """The 404 page, saying what was not found (never whether another tenant has it)."""
    context = {**chrome(membership, None, "request"), "message": message}
    return render(request, "dashboard/not_found.html", context, status=404)


@require_safe
@member_required
def request_detail(request: HttpRequest, membership: Membership, request_id: str) -> HttpResponse:
    """A request's attempts and checks in one timeline; `?project=` chooses the project
    when the id is in several (the page lists them)."""
    project = request.GET.get("project") or None
    context = request_context(
        organization_id=membership.organization_id, request_id=request_id, project=project
    )
    if context is None:
        # Named, so a mistyped search shows what was looked for.
        return not_found(
            request,
            membership,
            f"There is no request \u201c{request_id}\u201d in your organization.",
        )
    return render(
        request, "dashboard/request.html", {**chrome(membership, None, "request"), **context}
    )


@require_safe
@member_required
def request_search(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The header's search box: to the request page of the id typed (whitespace stripped);
    an empty box goes back where it was, an id too long to exist is a 400 naming the field."""
    try:
        request_id = searched_request_id(request.GET)
    except BadRequestId as refusal:
        context = {**chrome(membership, None, "request"), "error": refusal, "field": refusal.field}
        return render(request, "dashboard/bad_search.html", context, status=400)
    if not request_id:
        back = request.headers.get("referer", "")
        if back and url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(back)
        return redirect("dashboard:overview")
    return redirect("dashboard:request", request_id=request_id)


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
    """Acknowledge an alert from a page's form, then go back to that page."""
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
    """Silence an alert for one of the offered durations, then go back."""
    choice = request.POST.get("duration", "")
    return _alert_action(
        request,
        membership,
        alert_id,
        lambda alert: silence_for(alert, choice=choice, now=timezone.now()),
        "silenced",
    )

"""Who may see the dashboard and act on alerts: signed-in members of an organization, every
page scoped to that organization; acknowledging and silencing for ops and admin only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.models import Membership, Role

ALERT_ACTORS = (Role.OPS, Role.ADMIN)

MemberView = Callable[..., HttpResponse]


def can_act_on_alerts(membership: Membership) -> bool:
    """Whether the member may acknowledge and silence alerts (ops and admin)."""
    return membership.role in ALERT_ACTORS


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """The 403 page, saying why."""
    return render(request, "dashboard/forbidden.html", {"message": message}, status=403)


def member_required(view: MemberView) -> Callable[..., HttpResponse]:
    """Sign-in first (to the login page, coming back after); then the caller's membership,
    passed to the view, or 403 for a user who belongs to no organization."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = (
            Membership.objects.select_related("organization").filter(user=request.user).first()
        )
        if membership is None:
            return forbidden(
                request, "Your account is not a member of any organization; ask an admin."
            )
        return view(request, membership, *args, **kwargs)

    return wrapped

"""Sign-in throttling on django-axes (DESIGN.md "Reliability and security"), for the dashboard's
sign-in and the admin's alike: which address a sign-in comes from, a limit per counter, and the
429 page. The settings are under "Sign-in throttling" in tollgate/settings.py.

Two counters hold failed sign-ins for the cool-off period: a username with one address (the
pair) and an address for any username. None counts a username alone, so failures from other
addresses never lock a user out of a clean one.
"""

from __future__ import annotations

import ipaddress
import math
from typing import TYPE_CHECKING, Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

if TYPE_CHECKING:
    from datetime import datetime

    class AxesRequest(HttpRequest):
        """A sign-in request as axes hands it to its handler: stamped with the client's address
        and the attempt's time (axes.helpers / AxesHandler.update_request)."""

        axes_ip_address: str | None
        axes_attempt_time: datetime


def client_address(request: HttpRequest) -> str | None:
    """The address a sign-in comes from (AXES_CLIENT_IP_CALLABLE).

    With TOLLGATE_TRUSTED_PROXY_COUNT = 0 it is REMOTE_ADDR, whatever X-Forwarded-For says.
    With n trusted proxies, each appending the address it was reached from, the client is the
    n-th entry from the right: entries further left were written by the client and prove
    nothing. A header with fewer entries, or a hop that is not an address, gives REMOTE_ADDR.
    """
    peer = request.META.get("REMOTE_ADDR")
    proxies = settings.TOLLGATE_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < proxies:
        return peer  # it did not come through every proxy
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return peer


def _limit(parameter: str | list[str]) -> int:
    """The failures a counter allows: an address alone gets the higher, per-address limit."""
    names = [parameter] if isinstance(parameter, str) else list(parameter)
    if names == ["ip_address"]:
        return settings.TOLLGATE_SIGNIN_FAILURES_PER_ADDRESS
    return settings.AXES_FAILURE_LIMIT


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class SignInThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler, with a limit per counter and a success that clears only its pair."""

    def counters(
        self, request: AxesRequest, credentials: dict[str, Any] | None = None
    ) -> list[tuple[QuerySet, int]]:
        """Each counter this sign-in goes on: its failures within the cool-off, and its limit."""
        parameters = get_lockout_parameters(request, credentials)
        attempts = self.get_user_attempts(request, credentials)
        return [
            (queryset, _limit(parameter))
            for parameter, queryset in zip(parameters, attempts, strict=True)
        ]

    def get_failures(self, request: AxesRequest, credentials: dict[str, Any] | None = None) -> int:
        """The failures axes compares with AXES_FAILURE_LIMIT (the pair's limit).

        Axes has one limit for all counters; ours differ. So this reports the counter nearest
        its own limit on the pair's scale: the pair's limit minus the fewest failures any
        counter has left. 50 of 50 from one address reads as 5 of 5 (locked), 49 of 50 as 4.
        """
        left = min(
            limit - _failures(queryset) for queryset, limit in self.counters(request, credentials)
        )
        return settings.AXES_FAILURE_LIMIT - left

    def reset_user_attempts(
        self, request: AxesRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """A success (AXES_RESET_ON_SUCCESS) clears its own pair only.

        Axes would clear every counter the sign-in is on, the address's included: anyone with
        one valid account could then wipe the address's failures for other usernames at will.
        """
        deleted, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        ).delete()
        return deleted

    def retry_after_s(self, request: AxesRequest, credentials: dict[str, Any] | None = None) -> int:
        """Seconds until every counter that refuses this sign-in is under its limit again."""
        cool_off = get_cool_off(request)
        waits = [1]
        for attempts, limit in self.counters(request, credentials):
            counted = 0
            # An attempt row keeps its failures until its last one leaves the cool-off; the
            # counter drops under its limit when the row that takes it to the limit does.
            for attempt_time, failures in attempts.order_by("-attempt_time").values_list(
                "attempt_time", "failures_since_start"
            ):
                counted += failures
                if counted >= limit:
                    left = attempt_time + cool_off - request.axes_attempt_time
                    waits.append(math.ceil(left.total_seconds()))
                    break
        return max(waits)


def lockout_response(
    request: AxesRequest,
    original_response: HttpResponse | None,
    credentials: dict[str, Any] | None,
) -> HttpResponse:
    """A locked sign-in's answer (AXES_LOCKOUT_CALLABLE): 429 with Retry-After, and a page
    that says what happened and when to try again, for the dashboard and the admin alike."""
    retry_after_s = SignInThrottleHandler().retry_after_s(request, credentials)
    response = render(
        request,
        "registration/locked_out.html",
        {"retry_after_minutes": math.ceil(retry_after_s / 60), "sign_in_url": request.path},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(retry_after_s)
    return response

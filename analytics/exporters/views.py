"""GET /metrics: the live figures for Prometheus, for operators: OpenMetrics 1.0 when the
scraper's Accept header asks for `application/openmetrics-text`, else the text format 0.0.4.

With `TOLLGATE_METRICS_TOKEN` set, a scraper must send `Authorization: Bearer <token>`. Without
it, only a direct loopback client is served, and only where `TOLLGATE_METRICS_LOOPBACK` allows
it (the embedded default does; production needs the token unless told otherwise, since a proxy
on the same host makes every client look like loopback). A request that carries forwarding
headers came through a proxy, so its loopback address says nothing about who sent it.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from analytics.exporters.prometheus import metrics_exposition

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The exposition, or a plain-text 401/403 saying what access needs."""
    refusal = scrape_refusal(request)
    if refusal is not None:
        return refusal
    body, content_type = metrics_exposition(
        now=timezone.now(), accept=request.headers.get("Accept", "")
    )
    response = HttpResponse(body, content_type=content_type)
    response["Vary"] = "Accept"  # the format follows the Accept header
    return response


def scrape_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read /metrics, else the answer that refuses it."""
    token: str = settings.TOLLGATE_METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return _refuse(401, "/metrics needs 'Authorization: Bearer <metrics token>'.")
        # Bytes, so a non-ASCII header is a mismatch rather than a TypeError.
        if not hmac.compare_digest(presented.strip().encode(), token.encode()):
            return _refuse(401, "The metrics token is not valid.")
        return None
    if not settings.TOLLGATE_METRICS_LOOPBACK:
        return _refuse(403, "/metrics needs TOLLGATE_METRICS_TOKEN to be set on the server.")
    if not _direct_loopback(request):
        return _refuse(
            403,
            "/metrics answers loopback clients only; set TOLLGATE_METRICS_TOKEN to scrape "
            "from elsewhere.",
        )
    return None


def _direct_loopback(request: HttpRequest) -> bool:
    if any(request.META.get(header) for header in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _refuse(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="tollgate-metrics"'
    return response

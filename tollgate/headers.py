"""`Cache-Control: no-store` on every answer Django itself makes.

Dashboard and admin pages, CSV exports and API answers (ingest and errors included) hold one
user's or one organization's data, and each page carries its own CSP nonce: no browser or
proxy may keep a copy. The middleware sits below whitenoise, so static assets never reach it
and keep their long-lived cache headers. /metrics and the health checks get no-store too,
which scrapers and probes ignore.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """Add `no-store` to each response's Cache-Control, keeping what a view already set
    there (the admin's `never_cache`, for one)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        patch_cache_control(response, no_store=True)
        return response

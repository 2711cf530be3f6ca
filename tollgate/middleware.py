"""Turn a lost database into a 503 with Retry-After instead of a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from tollgate.db import database_errors

logger = logging.getLogger(__name__)

DATABASE_ERRORS = database_errors()


def service_unavailable_response() -> JsonResponse:
    """The answer sent while storage is unavailable: clients retry after the given delay."""
    response = JsonResponse(
        {"detail": "Storage is unavailable; retry later.", "code": "storage_unavailable"},
        status=503,
    )
    response["Retry-After"] = str(settings.TOLLGATE_RETRY_AFTER_S)
    return response


class DatabaseUnavailableMiddleware:
    """Answer 503 when the database cannot be reached."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        except DATABASE_ERRORS:
            # Raised outside a view (session or auth middleware): same answer as inside one.
            return self._unavailable()

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return self._unavailable()
        return None

    @staticmethod
    def _unavailable() -> JsonResponse:
        # The broken connection is dropped at request end by Django (close_old_connections),
        # and CONN_HEALTH_CHECKS reconnects on the next request.
        logger.warning("database unavailable; answering 503", exc_info=True)
        return service_unavailable_response()

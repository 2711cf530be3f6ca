"""REST framework exception handler: every error body is JSON with a `detail` and a `code`.

Database errors are not handled here on purpose: they propagate to
`DatabaseUnavailableMiddleware`, which answers 503 with Retry-After for API and pages alike.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, adding the error's `code` and, where one is known, the `field`."""
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data["code"] = getattr(response.data["detail"], "code", "error")
        field = getattr(exc, "field", None)
        if field:
            response.data["field"] = field
    return response


class ErrorSerializer(serializers.Serializer):
    """The body of every API error, as documented in the OpenAPI schema."""

    detail = serializers.CharField()
    code = serializers.CharField()
    field = serializers.CharField(required=False)

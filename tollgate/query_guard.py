"""One gate for every URL: query strings and path segments no view should ever see.

PostgreSQL text cannot hold NUL, so a NUL in a query parameter that reaches a filter is a
DataError (a 500) wherever a view forgot to check; an over-long value or thousands of
parameters cost work for nothing. This middleware refuses them before any view, the same for
the API, the dashboard and the admin: 400 naming the parameter for a query string (JSON shaped
like the API's other 400s under /api/, plain text elsewhere), 404 for a path segment that
cannot name anything. Views still judge what a well-formed value means.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

# C0 controls and DEL, but not tab, newline and carriage return, which a search box may send.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
API_PREFIX = "/api/"
SHOWN_NAME_CHARS = 100  # a refused parameter's name is shown, but not at any length


@dataclass(frozen=True)
class Refusal:
    """Why a query string is refused: the parameter at fault and what is wrong with it."""

    field: str
    message: str


def shown_name(name: str) -> str:
    """A parameter's name as an answer may show it: controls escaped, length capped."""
    escaped = CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", name)
    if len(escaped) > SHOWN_NAME_CHARS:
        return escaped[:SHOWN_NAME_CHARS] + "..."
    return escaped


def query_refusal(
    *,
    raw_query: str,
    read_parameters: Callable[[], Iterable[tuple[str, list[str]]]],
    max_parameters: int,
    max_value_chars: int,
    max_name_chars: int,
) -> Refusal | None:
    """The first thing wrong with a query string, or None when every parameter may go on.

    `raw_query` is counted before `read_parameters()` parses it, so a query string of more
    parameters than Django parses (DATA_UPLOAD_MAX_NUMBER_FIELDS) is refused here, not by an
    exception.
    """
    if raw_query and raw_query.count("&") + 1 > max_parameters:
        return Refusal("query", f"may hold at most {max_parameters} parameters")
    for name, values in read_parameters():
        if CONTROL_CHARACTERS.search(name):
            return Refusal(shown_name(name), "the parameter's name holds a control character")
        if len(name) > max_name_chars:
            return Refusal(
                shown_name(name), f"the parameter's name is longer than {max_name_chars} characters"
            )
        for value in values:
            if CONTROL_CHARACTERS.search(value):
                return Refusal(name, "must not contain NUL or other control characters")
            if len(value) > max_value_chars:
                return Refusal(name, f"must be at most {max_value_chars} characters long")
    return None


def path_refused(path: str, *, max_segment_chars: int) -> bool:
    """Whether a (decoded) path holds a segment that no URL of this site can match: one with a
    control character, or longer than any id or name this site uses."""
    return any(
        len(segment) > max_segment_chars or CONTROL_CHARACTERS.search(segment)
        for segment in path.split("/")
    )


class QueryGuardMiddleware:
    """Answer 400 for a query string and 404 for a path that `query_refusal` and
    `path_refused` turn away; pass everything else on untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path_info.startswith(API_PREFIX)
        if path_refused(
            request.path_info, max_segment_chars=settings.TOLLGATE_PATH_MAX_SEGMENT_CHARS
        ):
            return _not_found(is_api=is_api)
        refusal = query_refusal(
            raw_query=request.META.get("QUERY_STRING", ""),
            read_parameters=lambda: request.GET.lists(),  # parsed only once counted
            max_parameters=settings.TOLLGATE_QUERY_MAX_PARAMETERS,
            max_value_chars=settings.TOLLGATE_QUERY_MAX_VALUE_CHARS,
            max_name_chars=settings.TOLLGATE_QUERY_MAX_NAME_CHARS,
        )
        if refusal is not None:
            return _bad_request(refusal, is_api=is_api)
        return self.get_response(request)


def _bad_request(refusal: Refusal, *, is_api: bool) -> HttpResponse:
    detail = f"{refusal.field}: {refusal.message}"
    if is_api:  # the shape of analytics.api.params.BadParameter through the API's handler
        return JsonResponse(
            {"detail": detail, "code": "invalid_parameter", "field": refusal.field}, status=400
        )
    return HttpResponse(
        f"Bad request. {detail}\n", status=400, content_type="text/plain; charset=utf-8"
    )


def _not_found(*, is_api: bool) -> HttpResponse:
    if is_api:
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return HttpResponse("Not found.\n", status=404, content_type="text/plain; charset=utf-8")

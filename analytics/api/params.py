"""Query parameters of the metrics API: parsed, checked, and turned into a MetricsQuery."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import overload

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import exceptions

from analytics.metrics.query import MODES, UNKNOWN_MODE, MetricsQuery
from analytics.metrics.window import Window
from governance.models import ApiKey, Project, Service
from governance.numbers import is_row_id as is_row_id  # for the views and the dashboard

DEFAULT_WINDOW = timedelta(hours=24)
# Times a window may start or end at: wide enough for any traffic, far enough from the
# calendar's ends that a window, the window before it and every offset stay on it.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
LONGEST_WINDOW = timedelta(days=400)
# `mode=unknown` selects the requests no event told a mode of (stored as "").
MODE_CHOICES = (*MODES, UNKNOWN_MODE)  # the metrics API's and the filter bar's
POLICY_MAX_LENGTH = 100  # as the event schema takes a policy name


class BadParameter(exceptions.ParseError):
    """A 400 naming the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", code="invalid_parameter")
        self.field = field
        self.message = message


def moment_param(params: Mapping[str, str], name: str) -> datetime | None:
    """An RFC 3339 time in UTC, or None when absent; BadParameter names a time that is not
    one, has no offset, or lies outside the years windows are kept for."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError:
        raise BadParameter(
            name, "must be an RFC 3339 date-time, e.g. 2026-11-25T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise BadParameter(name, "must carry a UTC offset (e.g. Z)")
    try:
        moment = moment.astimezone(UTC)
        in_range = EARLIEST <= moment < LATEST
    except OverflowError:  # an offset that moves year 1 or 9999 off the calendar
        in_range = False
    if not in_range:
        raise BadParameter(name, f"must be in the years {EARLIEST.year} to {LATEST.year - 1}")
    return moment


class UnknownProject(BadParameter):
    """`?project=` names no project the caller sees (a 400 where it is a filter; an answer
    about one project makes it a 404)."""

    def __init__(self, name: str) -> None:
        super().__init__("project", f"no project {name!r} is visible to you")


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > 200 or "\x00" in value:
        raise BadParameter(name, "is not a valid value")
    return value


def _named_project(
    params: Mapping[str, str], projects: QuerySet[Project]
) -> tuple[QuerySet[Project], str | None]:
    """`projects` narrowed to the one `?project=` names (and that name), or left whole when
    the parameter is absent; BadParameter when it names none of them."""
    name = _text(params, "project")
    if name is None:
        return projects, None
    named = projects.filter(name=name)
    if not named.exists():
        raise UnknownProject(name)
    return named, name


def project_ids_param(
    params: Mapping[str, str], *, organization_id: int, project_ids: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """The projects a list (alerts, budgets) is limited to: the caller's scope (`project_ids`,
    None for every project of the organization), narrowed by `?project=` as the metrics API
    narrows it, with the same 400 for a name that is not a project the caller sees."""
    projects = Project.objects.filter(organization_id=organization_id)
    if project_ids is not None:
        projects = projects.filter(pk__in=project_ids)
    named, name = _named_project(params, projects)
    if name is None:
        return project_ids
    return tuple(named.values_list("pk", flat=True))


def metrics_query(
    params: Mapping[str, str], *, organization_id: int, api_key: ApiKey | None
) -> MetricsQuery:
    """The query a caller asked for, limited to what the caller may see.

    A session sees every project of its organization; a read key sees its own project only.
    """
    start, end = moment_param(params, "from"), moment_param(params, "to")
    end = end or timezone.now()
    start = start or end - DEFAULT_WINDOW
    window = Window.of(start, end)  # whole minutes
    if window.start >= window.end:
        to_the_minute = " once both are taken to the minute" if start < end else ""
        raise BadParameter(
            "from",
            f"must be before to ({start:%Y-%m-%d %H:%M} UTC is not before "
            f"{end:%Y-%m-%d %H:%M} UTC{to_the_minute})",
        )
    if end - start > LONGEST_WINDOW:
        raise BadParameter("from", f"the window may span at most {LONGEST_WINDOW.days} days")
    projects = Project.objects.filter(organization_id=organization_id).order_by("name")
    if api_key is not None:
        projects = projects.filter(pk=api_key.project_id)
    applied: dict[str, str] = {}
    projects, project_name = _named_project(params, projects)
    if project_name is not None:
        applied["project"] = project_name
    projects_in_scope = tuple(projects)

    service_ids = None
    service_name = _text(params, "service")
    if service_name is not None:
        service_ids = tuple(
            Service.objects.filter(project__in=projects_in_scope, name=service_name).values_list(
                "pk", flat=True
            )
        )
        if not service_ids:
            raise BadParameter("service", f"no service {service_name!r} is visible to you")
        applied["service"] = service_name
    mode = _text(params, "mode")
    if mode is not None and mode not in MODE_CHOICES:
        raise BadParameter("mode", f"must be one of {', '.join(MODE_CHOICES)}")
    policy = _text(params, "policy")
    if policy is not None and len(policy) > POLICY_MAX_LENGTH:
        raise BadParameter("policy", f"a policy name has at most {POLICY_MAX_LENGTH} characters")
    for name, value in (
        ("model", _text(params, "model")),
        ("mode", mode),
        ("environment", _text(params, "environment")),
        ("policy", policy),
    ):
        if value is not None:
            applied[name] = value
    return MetricsQuery(
        window=window,
        projects=projects_in_scope,
        service_ids=service_ids,
        model=applied.get("model"),
        mode=None if mode is None else "" if mode == UNKNOWN_MODE else mode,
        environment=applied.get("environment"),
        policy=applied.get("policy"),
        applied=applied,
    )


@overload
def choice(params: Mapping[str, str], name: str, options: tuple[str, ...], default: str) -> str: ...
@overload
def choice(
    params: Mapping[str, str], name: str, options: tuple[str, ...], default: None
) -> str | None: ...
def choice(
    params: Mapping[str, str], name: str, options: tuple[str, ...], default: str | None
) -> str | None:
    """The parameter's value (or `default`), which must be one of `options`."""
    value = params.get(name) or default
    if value is not None and value not in options:
        raise BadParameter(name, f"must be one of {', '.join(options)}")
    return value

"""Arguments shared by `rollups_check` and `rollups_rebuild`: the tenant and the span of hours.

Bad arguments exit 2 with one line, so that `rollups_check`'s exit 1 always means "hours
differ".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.management.base import CommandError

from governance.management.base import organization_named, project_named
from governance.models import Project

BAD_ARGUMENTS = 2


def bad_arguments(message: str) -> CommandError:
    return CommandError(message, returncode=BAD_ARGUMENTS)


def moment_parse(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or time (UTC when it names no offset), or None when not given."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_arguments(
            f"{option}: {value!r} is not a date or time (e.g. 2026-12-01 or 2026-12-01T10:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hours_span(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """`--from` floored and `--to` raised to whole hours, so every hour they touch counts."""
    lo, hi = moment_parse(start, "--from"), moment_parse(end, "--to")
    if lo is not None:
        lo = lo.replace(minute=0, second=0, microsecond=0)
    if hi is not None and hi != hi.replace(minute=0, second=0, microsecond=0):
        hi = hi.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if lo is not None and hi is not None and lo >= hi:
        raise bad_arguments("--from must be before --to")
    return lo, hi


def one_project_named(org: str, project: str) -> Project:
    """The one project named; an unknown name is a bad argument."""
    try:
        return project_named(org, project)
    except CommandError as error:
        raise bad_arguments(str(error)) from None


def projects_named(org: str | None, project: str | None) -> list[Project] | None:
    """The projects named (all of an organization, one of it, or None for every project);
    an unknown name is a bad argument."""
    if org is None:
        return None
    if project is not None:
        return [one_project_named(org, project)]
    try:
        organization = organization_named(org)
    except CommandError as error:
        raise bad_arguments(str(error)) from None
    return list(Project.objects.filter(organization=organization))

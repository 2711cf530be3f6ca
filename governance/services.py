"""Writes to governance data: tenants, users, API keys, rate windows, sign-in records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance.keys import key_generate
from governance.models import (
    ApiKey,
    ApiKeyScope,
    Membership,
    Organization,
    Project,
    RateLimitWindow,
    Role,
    Service,
)


class GovernanceError(ValueError):
    """A request that the governance rules refuse; the message says why, in one line."""


def organization_create(*, name: str) -> Organization:
    """A new tenant; names are unique."""
    name = name.strip()
    if not name:
        raise GovernanceError("organization name must not be empty")
    with _unique(f"organization {name!r} already exists"):
        return Organization.objects.create(name=name)


def project_create(*, organization: Organization, name: str) -> Project:
    """A new project of an organization, with the default cost settings."""
    name = name.strip()
    if not name:
        raise GovernanceError("project name must not be empty")
    with _unique(f"project {name!r} already exists in {organization.name!r}"):
        return Project.objects.create(organization=organization, name=name)


def service_create(*, project: Project, name: str) -> Service:
    """A new service of a project (what ingest keys are bound to)."""
    name = name.strip()
    if not name:
        raise GovernanceError("service name must not be empty")
    with _unique(f"service {name!r} already exists in {project}"):
        return Service.objects.create(project=project, name=name)


@contextmanager
def _unique(message: str) -> Iterator[None]:
    """Turn a unique-constraint violation into a GovernanceError (races included)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise GovernanceError(message) from None


# Beyond governance's own: what an organization admin does in the admin with other apps' rows
# (named by label: governance imports no other app). The admin classes scope every row to the
# admin's organization; analytics' rows stay read-only there, `change_alert` and
# `change_notification` only allow their actions (acknowledge, silence, send again).
ADMIN_ROLE_PERMISSIONS = (
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("auth", "view_user"),
    ("analytics", "view_alert"),
    ("analytics", "change_alert"),
    ("analytics", "view_alertevaluation"),
    ("analytics", "view_notification"),
    ("analytics", "change_notification"),
    ("analytics", "view_repricing"),
    ("analytics", "view_rollupmismatch"),
)


def role_groups_ensure() -> dict[str, Group]:
    """The ops, finance and admin groups; admins may edit all governance data in the admin,
    their organization's users, and see its alerts, outbox and repricings."""
    groups = {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}
    named = Q()
    for app_label, codename in ADMIN_ROLE_PERMISSIONS:
        named |= Q(content_type__app_label=app_label, codename=codename)
    admin_permissions = Permission.objects.filter(Q(content_type__app_label="governance") | named)
    groups[Role.ADMIN].permissions.add(*admin_permissions)
    return groups


@transaction.atomic
def user_create(*, organization: Organization, username: str, role: str, password: str) -> User:
    """A user of one organization with one role (ops, finance or admin)."""
    if role not in Role.values:
        raise GovernanceError(f"role must be one of {', '.join(Role.values)}, not {role!r}")
    if User.objects.filter(username=username).exists():
        raise GovernanceError(f"user {username!r} already exists")
    if not password:
        raise GovernanceError("password must not be empty")
    user = User.objects.create_user(username=username, password=password)
    membership = Membership.objects.create(user=user, organization=organization, role=role)
    membership_role_apply(membership=membership)
    return user


@transaction.atomic
def membership_role_apply(*, membership: Membership) -> None:
    """Make the user's groups and admin access match the membership's role."""
    groups = role_groups_ensure()
    user = membership.user
    user.groups.remove(*(group for role, group in groups.items() if role != membership.role))
    user.groups.add(groups[membership.role])
    user.is_staff = membership.role == Role.ADMIN or user.is_superuser  # only admins reach admin
    user.save(update_fields=["is_staff"])


def api_key_create(
    *, project: Project, scope: str, service: Service | None = None, name: str = ""
) -> tuple[ApiKey, str]:
    """Create a key and return it with its clear text, which is never stored or shown again."""
    if scope not in ApiKeyScope.values:
        raise GovernanceError(
            f"scope must be one of {', '.join(ApiKeyScope.values)}, not {scope!r}"
        )
    if scope == ApiKeyScope.INGEST and service is None:
        raise GovernanceError("an ingest key needs a service")
    if service is not None and service.project_id != project.pk:
        raise GovernanceError(f"service {service.name!r} does not belong to {project}")
    generated = key_generate()
    api_key = ApiKey.objects.create(
        project=project,
        service=service,
        scope=scope,
        name=name,
        prefix=generated.prefix,
        digest=generated.digest,
    )
    return api_key, generated.raw


def api_key_revoke(*, api_key: ApiKey, now: datetime | None = None) -> ApiKey:
    """Revoke a key; it is refused from the next request on."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int


def api_key_rate_consume(*, api_key: ApiKey, now: datetime) -> RateDecision:
    """Count one request against the key's per-minute limit with an atomic upsert."""
    window_start = now.replace(second=0, microsecond=0)
    table = RateLimitWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, window_start, count) VALUES (%s, %s, 1) "
            f"ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = {table}.count + 1 "
            "RETURNING count",
            [api_key.pk, window_start],
        )
        (count,) = cursor.fetchone()
    if count <= api_key.rate_limit_per_minute:
        return RateDecision(allowed=True, retry_after_s=0)
    seconds_left = 60 - (now - window_start).total_seconds()
    return RateDecision(allowed=False, retry_after_s=max(1, int(seconds_left + 0.999)))


def api_key_touch(*, api_key: ApiKey, now: datetime) -> None:
    """Record use, at most once a minute per key so the hot path does not write every time."""
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


def rate_windows_prune(*, now: datetime) -> int:
    """Drop counting windows older than an hour."""
    deleted, _ = RateLimitWindow.objects.filter(window_start__lt=now - timedelta(hours=1)).delete()
    return deleted


# --- Sign-in records (django-axes) -----------------------------------------------------------


def signin_records_prune(*, now: datetime) -> int:
    """Drop sign-in records nobody needs: failures past the cool-off (they no longer count)
    and logs of sign-ins older than TOLLGATE_SIGNIN_LOG_DAYS."""
    cool_off = get_cool_off()
    kept_since = now - timedelta(days=settings.TOLLGATE_SIGNIN_LOG_DAYS)
    deleted = 0
    for records in (
        AccessAttempt.objects.filter(attempt_time__lt=now - cool_off),
        AccessLog.objects.filter(attempt_time__lt=kept_since),
        AccessFailureLog.objects.filter(attempt_time__lt=kept_since),
    ):
        deleted += records.delete()[0]
    return deleted


PRICES_LOCK_CLASS = 0x70726963  # the advisory lock space of "a project's prices"


def prices_lock(*, project_id: int, shared: bool) -> None:
    """Hold the project's prices lock until the transaction ends.

    Ingest holds it shared while it stores events it has priced; a change to the prices holds
    it exclusively, so it commits only between batches, and a batch that priced its events
    with the old prices either committed before it (and is repriced) or sees the new ones.
    """
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [PRICES_LOCK_CLASS, project_id])

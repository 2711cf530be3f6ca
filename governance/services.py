"""Writes to governance data: tenants, users, API keys, rate windows, sign-in attempts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from governance.keys import key_generate
from governance.models import (
    ApiKey,
    ApiKeyScope,
    LoginAttemptWindow,
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


def role_groups_ensure() -> dict[str, Group]:
    """The ops, finance and admin groups; admins may edit all governance data in the admin."""
    groups = {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}
    governance_permissions = Permission.objects.filter(content_type__app_label="governance")
    groups[Role.ADMIN].permissions.add(*governance_permissions)
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


# --- Sign-in throttling ---------------------------------------------------------------------

LOGIN_ATTEMPTS_PERIOD = timedelta(minutes=15)  # failed sign-ins count for this sliding period
LOGIN_ATTEMPTS_ALLOWED = 5  # ... per username from one client address
LOGIN_ATTEMPTS_PER_USERNAME = 20  # ... per username from any address (a guesser spread out)
LOGIN_ATTEMPTS_PER_ADDRESS = 50  # ... per address for any username (one client trying names)

Answer = TypeVar("Answer")


def _login_limits() -> dict[str, int]:
    """Each counter an attempt goes on, with its limit (read when asked, so tests can lower it)."""
    return {
        "pair": LOGIN_ATTEMPTS_ALLOWED,
        "username": LOGIN_ATTEMPTS_PER_USERNAME,
        "address": LOGIN_ATTEMPTS_PER_ADDRESS,
    }


def _login_keys(username: str, client_ip: str) -> dict[str, str]:
    # Digests, so the table holds no usernames or addresses in clear; the kind comes first so
    # no username can make one counter's key another's.
    name = username.strip().lower()
    texts = {
        "pair": f"pair\x00{name}\x00{client_ip}",
        "username": f"username\x00{name}",
        "address": f"address\x00{client_ip}",
    }
    return {kind: hashlib.sha256(text.encode()).hexdigest() for kind, text in texts.items()}


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def login_attempt_register(*, username: str, client_ip: str, now: datetime) -> RateDecision:
    """Count a sign-in attempt before the password is checked; refused past any limit: the
    username from this address, the username from anywhere, this address for any username.

    Every attempt counts and a success takes itself back out (`login_attempts_clear`), so what
    remains are failures. Each increment is one atomic upsert returning the total of the
    period, so concurrent attempts cannot slip past a limit the way a read-then-write check
    would let them.
    """
    window_start = _minute(now)
    since = window_start - LOGIN_ATTEMPTS_PERIOD + timedelta(minutes=1)
    table = LoginAttemptWindow._meta.db_table
    limits = _login_limits()
    waits = []
    with connection.cursor() as cursor:
        for kind, key in _login_keys(username, client_ip).items():
            cursor.execute(
                f"WITH bumped AS ("
                f" INSERT INTO {table} (key_digest, window_start, count) VALUES (%s, %s, 1)"
                f" ON CONFLICT (key_digest, window_start) DO UPDATE SET count = {table}.count + 1"
                f" RETURNING count) "
                f"SELECT (SELECT count FROM bumped) + COALESCE((SELECT sum(count) FROM {table}"
                f" WHERE key_digest = %s AND window_start >= %s AND window_start < %s), 0), "
                f"(SELECT min(window_start) FROM {table}"
                f" WHERE key_digest = %s AND window_start >= %s AND window_start < %s)",
                [key, window_start, key, since, window_start, key, since, window_start],
            )
            total, oldest = cursor.fetchone()
            if total > limits[kind]:
                # The period frees up as its oldest minute leaves it.
                frees_at = (oldest or window_start) + LOGIN_ATTEMPTS_PERIOD
                waits.append(max(1, int((frees_at - now).total_seconds())))
    if not waits:
        return RateDecision(allowed=True, retry_after_s=0)
    return RateDecision(allowed=False, retry_after_s=max(waits))


def login_attempts_clear(*, username: str, client_ip: str, now: datetime) -> None:
    """A successful sign-in at `now`: the failures before it from this address no longer
    count, and the attempt itself comes out of the username's and the address's counts."""
    keys = _login_keys(username, client_ip)
    LoginAttemptWindow.objects.filter(key_digest=keys["pair"]).delete()
    counted = LoginAttemptWindow.objects.filter(
        key_digest__in=(keys["username"], keys["address"]), window_start=_minute(now)
    )
    counted.filter(count__gt=0).update(count=F("count") - 1)
    counted.filter(count=0).delete()


class LoginThrottled(GovernanceError):
    """Too many failed sign-ins: the password was not checked; `decision` says when to retry."""

    def __init__(self, decision: RateDecision) -> None:
        minutes = -(-decision.retry_after_s // 60)
        period = int(LOGIN_ATTEMPTS_PERIOD.total_seconds() // 60)
        super().__init__(
            f"Too many failed sign-in attempts. Wait {minutes} minute{'s' if minutes != 1 else ''}"
            f" and try again (at most a few tries per {period} minutes)."
        )
        self.decision = decision


def login_attempt_authenticate(
    *, username: str, client_ip: str, now: datetime, authenticate: Callable[[], Answer]
) -> Answer:
    """A throttled sign-in: count the attempt; past a limit raise LoginThrottled without
    calling `authenticate`; else call it (it raises on a wrong password) and, when it passes,
    clear the attempt and the address's earlier failures."""
    decision = login_attempt_register(username=username, client_ip=client_ip, now=now)
    if not decision.allowed:
        raise LoginThrottled(decision)
    answer = authenticate()
    login_attempts_clear(username=username, client_ip=client_ip, now=now)
    return answer


def client_ip(request: HttpRequest | None) -> str:
    """The peer address; forwarded headers are not trusted (a client could set them)."""
    return (request.META.get("REMOTE_ADDR") or "unknown") if request else "unknown"


class ThrottledLoginMixin:
    """For a Django authentication form (the dashboard's, the admin's): each attempt goes
    through `login_attempt_authenticate`; `throttled` holds a refusal past the limits, for the
    view to answer 429 with Retry-After."""

    throttled: RateDecision | None = None
    cleaned_data: dict[str, Any]
    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        """Count the attempt and check the password, unless a limit refuses it first."""
        check_password = super().clean  # type: ignore[misc]
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return check_password()  # no attempt is made
        try:
            return login_attempt_authenticate(
                username=username,
                client_ip=client_ip(self.request),
                now=timezone.now(),
                authenticate=check_password,
            )
        except LoginThrottled as refused:
            self.throttled = refused.decision
            raise ValidationError(str(refused), code="throttled") from None


def login_attempts_prune(*, now: datetime) -> int:
    """Drop sign-in counters older than the throttling period."""
    deleted, _ = LoginAttemptWindow.objects.filter(
        window_start__lt=now - LOGIN_ATTEMPTS_PERIOD
    ).delete()
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

"""What every benchmark here starts with: Django configured from tollgate.settings, schema
up to date. The scripts run as `python bench/<name>.py`, so this module is importable as-is."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from governance.models import Organization, Project, Service

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    """Configure Django from tollgate.settings and bring the schema up to date."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tollgate.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- What the benchmarks share once Django is set up ----------------------------------------

MATRIX_PATH = PROJECT_ROOT / "tollgate" / "demo" / "data" / "reference_matrix.json"
# The run's rows in these tables go with its project when the run cleans up.
CLEANUP_TABLES = (
    "ingestion_routingevent",
    "ingestion_enforcementevent",
    "analytics_requestfact",
    "analytics_attemptrollup",
    "analytics_requestrollup",
    "analytics_layerrollup",
    "analytics_versionrollup",
)


def reference_matrix() -> dict[str, Any]:
    return json.loads(MATRIX_PATH.read_text())


@dataclass(frozen=True)
class Tenant:
    """A run's own organization and project, its services, and an API key for it."""

    organization: Organization
    project: Project
    services: dict[str, Service]  # by name
    raw_key: str
    user: User  # an ops member, for the dashboard's pages

    @property
    def service(self) -> Service:
        """The first service (the one an ingest key posts as)."""
        return next(iter(self.services.values()))


def tenant_create(kind: str, *, scope: str, service_names: list[str] | None = None) -> Tenant:
    """A fresh tenant per run (names carry `kind` and a timestamp) with the reference matrix,
    the given services (default one), and a key of `scope` (an ingest key posts as the first
    service) whose rate limit no bench reaches."""
    from governance.matrix import matrix_load
    from governance.services import (
        api_key_create,
        organization_create,
        project_create,
        service_create,
        user_create,
    )

    suffix = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    organization = organization_create(name=f"bench-{kind}-org-{suffix}")
    project = project_create(organization=organization, name=f"bench-{kind}-project-{suffix}")
    names = service_names or [f"bench-{kind}-service-{suffix}"]
    services = {name: service_create(project=project, name=name) for name in names}
    matrix_load(project=project, document=reference_matrix())
    project.refresh_from_db()  # the matrix settings (token and tool scales) land on the project
    api_key, raw_key = api_key_create(
        project=project,
        scope=scope,
        service=services[names[0]] if scope == "ingest" else None,
        name="bench",
    )
    api_key.rate_limit_per_minute = 10**6  # a bench posts far faster than any real client
    api_key.save(update_fields=["rate_limit_per_minute"])
    user = user_create(
        organization=organization,
        username=f"bench-{kind}-ops-{suffix}",
        role="ops",
        password=secrets.token_urlsafe(16),
    )
    return Tenant(organization, project, services, raw_key, user)


def tenant_delete(tenant: Tenant) -> float:
    """Delete the run's raw events, request facts, rollup rows and tenant; return the time.
    Call it holding the rollup lock, so no worker rolls up events being deleted."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table in CLEANUP_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [tenant.project.pk])
        tenant.organization.delete()
        tenant.user.delete()
    return time.perf_counter() - started


def rollup_lock(take: bool) -> None:
    """Hold (or release) the rollup job's advisory lock on this process's connection.

    The job's own transaction-level try-lock succeeds in the session that holds it and fails
    in every other worker (e.g. the Celery beat of `make demo`), which then skips its run: no
    other worker takes the bench's events.
    """
    from django.db import connection

    from analytics.rollups.job import ROLLUP_LOCK_KEY

    with connection.cursor() as cursor:
        if take:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ROLLUP_LOCK_KEY])
        else:
            cursor.execute("SELECT pg_advisory_unlock_all()")

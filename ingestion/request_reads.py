"""One request's raw events, for the request API and page (through
`ingestion.selectors.request_traces`): its attempts and checks, whenever each arrived.

A request id is the caller's own name for a request, unique only within a project, so a
trace is per project; the organization bounds every read, so another tenant's id is never
found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from governance.models import Project, Service
from ingestion.models import EnforcementEvent, RoutingEvent

REQUEST_ID_MAX_LENGTH = 128  # the column's length: a longer id cannot exist

ATTEMPT_FIELDS = (
    "seq", "project_id", "service_id", "event_id", "timestamp", "received_at", "model",
    "provider", "mode", "status", "error_type", "fallback_from", "latency_ms",
    "routing_latency_ms", "input_tokens", "output_tokens", "reported_cost_usd",
    "priced_cost_usd", "router_version",
)  # fmt: skip
CHECK_FIELDS = (
    "seq", "project_id", "service_id", "event_id", "timestamp", "received_at", "layer",
    "policy", "verdict", "violation", "severity", "false_positive", "check_latency_ms", "mode",
    "policy_version",
)  # fmt: skip


@dataclass(frozen=True)
class RequestAttempt:
    """One routing event of the request: a model call. `seq` is the shared ingest sequence,
    which orders events of the same instant."""

    seq: int
    service_id: int
    event_id: UUID
    timestamp: datetime
    received_at: datetime
    model: str
    provider: str
    mode: str
    status: str
    error_type: str
    fallback_from: str
    latency_ms: float
    routing_latency_ms: float | None
    input_tokens: int
    output_tokens: int
    reported_cost_usd: Decimal | None
    priced_cost_usd: Decimal | None
    router_version: str | None

    @property
    def cost_usd(self) -> Decimal | None:
        """The reported cost when there is one, else the priced cost (None when unpriced),
        as every money figure counts an attempt."""
        if self.reported_cost_usd is not None:
            return self.reported_cost_usd
        return self.priced_cost_usd


@dataclass(frozen=True)
class RequestCheck:
    """One enforcement event of the request: a policy check at one layer."""

    seq: int
    service_id: int
    event_id: UUID
    timestamp: datetime
    received_at: datetime
    layer: str
    policy: str
    verdict: str
    violation: str | None
    severity: str | None
    false_positive: bool
    check_latency_ms: float
    mode: str | None
    policy_version: str | None


@dataclass(frozen=True)
class RequestTrace:
    """A request of one project: its service (that of its earliest event), its mode (that of
    its first attempt, else of its first check that carries one; None when neither does), and its attempts and checks, each in
    time order (ties in ingest order)."""

    request_id: str
    project_id: int
    project: str
    service: str
    mode: str | None
    attempts: tuple[RequestAttempt, ...]
    checks: tuple[RequestCheck, ...]


def request_traces(
    *, request_id: str, organization_id: int, project_ids: Sequence[int] | None = None
) -> list[RequestTrace]:
    """The request with this id in each project of the organization (only the projects in
    `project_ids` when given) that has an event of it, ordered by project name; empty when
    there is none (an id no stored one can equal included: too long, or with a NUL, which
    PostgreSQL text cannot hold)."""
    if len(request_id) > REQUEST_ID_MAX_LENGTH or "\x00" in request_id:
        return []
    projects = Project.objects.filter(organization_id=organization_id)
    if project_ids is not None:
        projects = projects.filter(pk__in=project_ids)
    names = dict(projects.values_list("pk", "name"))
    if not names:
        return []
    attempts: dict[int, list[RequestAttempt]] = {}
    for row in RoutingEvent.objects.filter(project_id__in=names, request_id=request_id).values_list(
        *ATTEMPT_FIELDS
    ):
        attempts.setdefault(row[1], []).append(RequestAttempt(row[0], *row[2:]))
    checks: dict[int, list[RequestCheck]] = {}
    for row in EnforcementEvent.objects.filter(
        project_id__in=names, request_id=request_id
    ).values_list(*CHECK_FIELDS):
        checks.setdefault(row[1], []).append(RequestCheck(row[0], *row[2:]))
    found = sorted(attempts.keys() | checks.keys(), key=lambda pk: (names[pk], pk))
    services = dict(Service.objects.filter(project_id__in=found).values_list("pk", "name"))
    return [
        _trace(request_id, pk, names[pk], services, attempts.get(pk, []), checks.get(pk, []))
        for pk in found
    ]


def _trace(
    request_id: str,
    project_id: int,
    project: str,
    services: dict[int, str],
    attempts: list[RequestAttempt],
    checks: list[RequestCheck],
) -> RequestTrace:
    attempts.sort(key=lambda event: (event.timestamp, event.seq))
    checks.sort(key=lambda event: (event.timestamp, event.seq))
    events: list[RequestAttempt | RequestCheck] = [*attempts, *checks]
    earliest = min(events, key=lambda event: (event.timestamp, event.seq))
    return RequestTrace(
        request_id=request_id,
        project_id=project_id,
        project=project,
        service=services.get(earliest.service_id, ""),
        mode=_mode(attempts, checks),
        attempts=tuple(attempts),
        checks=tuple(checks),
    )


def _mode(attempts: list[RequestAttempt], checks: list[RequestCheck]) -> str | None:
    """DESIGN.md's request mode (the rollups' `unknown` is None here)."""
    if attempts:
        return attempts[0].mode
    return next((check.mode for check in checks if check.mode is not None), None)

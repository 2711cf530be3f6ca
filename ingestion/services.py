"""The ingest use case: a batch of events from one service's key becomes durable raw rows;
and the one later write to them, a new priced cost (analytics' repricing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from psycopg.errors import CheckViolation

from governance.models import ApiKey, ApiKeyScope, Organization, Project, Service
from governance.selectors import price_book_for_project
from governance.services import GovernanceError, api_key_create, prices_lock
from ingestion.otlp.mapping import MappedSpans
from ingestion.partitions import partition_missing, partitions_ensure, partitions_forget
from ingestion.validation import FieldError, IngestContext, batch_validate
from ingestion.writer import rows_insert
from tollgate.db.sql import copy_rows, execute


@dataclass(frozen=True)
class IngestResult:
    """The answer to one batch: how many events were stored, already known, or refused."""

    accepted: int
    duplicates: int
    rejected: int
    errors: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [error.as_dict() for error in self.errors],
        }


def events_ingest(
    *, api_key: ApiKey, events: list[Any], now: datetime, default_mode: str | None = None
) -> IngestResult:
    """Validate, price and store a batch for the key's project and service.

    The project and service come from the key, never from the events. Valid events are stored
    even when others are rejected, and are durable (committed) when this returns. A routing
    event without `mode` takes `default_mode`, or is rejected when it is None (the JSON API).
    """
    try:
        return _batch_store(api_key=api_key, events=events, now=now, default_mode=default_mode)
    except (CheckViolation, IntegrityError) as error:
        if not partition_missing(error):
            raise
        # Another process dropped a partition this one remembers making (retention shortened,
        # then lengthened): forget them all and store the batch again, in a fresh transaction
        # (the failed one is rolled back whole). Once: a second miss is a real error.
        partitions_forget()
        return _batch_store(api_key=api_key, events=events, now=now, default_mode=default_mode)


@dataclass(frozen=True)
class SpansResult:
    """The answer to one OTLP export: events stored and already known, and the GenAI and
    guardrail spans refused, with the first one's reason ("" when none was)."""

    accepted: int
    duplicates: int
    rejected_spans: int
    error_message: str


def spans_ingest(*, api_key: ApiKey, spans: MappedSpans, now: datetime) -> SpansResult:
    """Store the events mapped from an OTLP export exactly as `events_ingest` stores a batch;
    routing spans without `tollgate.mode` take the project's `default_mode`."""
    result = IngestResult(accepted=0, duplicates=0, rejected=0)
    if spans.events:
        result = events_ingest(
            api_key=api_key,
            events=spans.events,
            now=now,
            default_mode=api_key.project.default_mode,
        )
    # Both lists are in span order; an event refused by validation may have several errors.
    first = list(spans.problems[:1])
    if result.errors:
        error = result.errors[0]
        first.append(spans.problem(error.index, error.field, error.message))
    reason = min(first, key=lambda problem: problem.position).text() if first else ""
    return SpansResult(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected_spans=len(spans.problems) + result.rejected,
        error_message=reason,
    )


def _batch_store(
    *, api_key: ApiKey, events: list[Any], now: datetime, default_mode: str | None
) -> IngestResult:
    project = api_key.project
    if api_key.service_id is None:  # a constraint gives every ingest key its service
        raise ValueError(f"key {api_key.pk} has no service to ingest for")
    with transaction.atomic():
        # Shared with other batches, exclusive for a price change: events are priced and
        # stored either wholly before a change commits (and repriced) or wholly after it.
        prices_lock(project_id=project.pk, shared=True)
        context = IngestContext(
            project_id=project.pk,
            service_id=api_key.service_id,
            now=now,
            retention_days=project.retention_days,
            future_skew_s=settings.TOLLGATE_INGEST_FUTURE_SKEW_S,
            token_scale=project.token_scale,
            tool_scale=project.tool_scale,
            price_book=price_book_for_project(project_id=project.pk),
            default_mode=default_mode,
        )
        batch = batch_validate(events, context)
        routing_rows = list(batch.routing.values())
        enforcement_rows = list(batch.enforcement.values())
        partitions_ensure(batch.months())
        inserted = rows_insert({"routing": routing_rows, "enforcement": enforcement_rows})
    valid = len(routing_rows) + len(enforcement_rows) + batch.in_batch_duplicates
    return IngestResult(
        accepted=inserted,
        duplicates=valid - inserted,
        rejected=batch.rejected,
        errors=batch.errors,
    )


# (event_id, timestamp, priced cost in 1e-8 USD or None, price row id or None)
EventPrice = tuple[UUID, datetime, int | None, int | None]
# The prices are staged in a temporary table of this session, then set by one UPDATE. The
# stage lives here with the UPDATE it feeds: nothing else reads it.
PRICE_STAGE = "stage_repriced_events"


def routing_prices_set(*, project_id: int, prices: Iterable[EventPrice]) -> int:
    """Set `priced_cost_usd` and `price_id` of these routing events of the project (found by
    event id and timestamp); the number of events updated. Reported costs are left as they
    are."""
    with transaction.atomic():
        execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {PRICE_STAGE} "
            '(event_id uuid, "timestamp" timestamptz, priced_units bigint, price_id bigint) '
            "ON COMMIT DELETE ROWS"
        )
        copy_rows(
            PRICE_STAGE,
            ("event_id", "timestamp", "priced_units", "price_id"),
            prices,
            binary_types=("uuid", "timestamptz", "int8", "int8"),
        )
        return execute(
            f"WITH staged AS (DELETE FROM {PRICE_STAGE} RETURNING *) "  # noqa: S608 (a constant)
            "UPDATE ingestion_routingevent e "
            "SET priced_cost_usd = s.priced_units / 100000000.0, price_id = s.price_id "
            "FROM staged s "
            'WHERE e.project_id = %s AND e.event_id = s.event_id AND e."timestamp" = s."timestamp"',
            [project_id],
        )


@transaction.atomic
def simulation_keys_issue(
    *, organization: Organization, projects: Iterable[str], service_name: str
) -> dict[str, tuple[ApiKey, str]]:
    """A new ingest key for each named project of the organization, on its `service_name`
    service, for a traffic simulation (raw keys are never stored, so none can be looked up);
    the caller revokes them when it is done. By project name: (key, raw key)."""
    issued = {}
    for name in projects:
        project = Project.objects.filter(organization=organization, name=name).first()
        if project is None:
            raise GovernanceError(
                f"project {name!r} does not exist in {organization.name!r} "
                "(create it with create_project, or run make demo)"
            )
        service = Service.objects.filter(project=project, name=service_name).first()
        if service is None:
            raise GovernanceError(f"service {service_name!r} does not exist in {project}")
        issued[name] = api_key_create(
            project=project, scope=ApiKeyScope.INGEST, service=service, name="simulate_traffic"
        )
    return issued

"""The ingest use case: a batch of events from one service's key becomes durable raw rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from governance.models import ApiKey
from governance.selectors import price_book_for_project
from ingestion.partitions import partitions_ensure
from ingestion.validation import FieldError, IngestContext, batch_validate
from ingestion.writer import rows_insert


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


def events_ingest(*, api_key: ApiKey, events: list[Any], now: datetime) -> IngestResult:
    """Validate, price and store a batch for the key's project and service.

    The project and service come from the key, never from the events. Valid events are stored
    even when others are rejected, and are durable (committed) when this returns.
    """
    project = api_key.project
    context = IngestContext(
        project_id=project.pk,
        service_id=api_key.service_id,
        now=now,
        retention_days=project.retention_days,
        future_skew_s=settings.TOLLGATE_INGEST_FUTURE_SKEW_S,
        token_scale=project.token_scale,
        tool_scale=project.tool_scale,
        price_book=price_book_for_project(project_id=project.pk),
    )
    batch = batch_validate(events, context)
    routing_rows = list(batch.routing.values())
    enforcement_rows = list(batch.enforcement.values())
    partitions_ensure(batch.months())
    with transaction.atomic():
        inserted = rows_insert({"routing": routing_rows, "enforcement": enforcement_rows})
    valid = len(routing_rows) + len(enforcement_rows) + batch.in_batch_duplicates
    return IngestResult(
        accepted=inserted,
        duplicates=valid - inserted,
        rejected=batch.rejected,
        errors=batch.errors,
    )

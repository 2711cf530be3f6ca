"""An organization whose projects the health grid must tell apart: `checkout` in an outage
(half its calls fail with no fallback) over an error-rate rule and an exhausted budget,
`support` healthy under rules of every graded kind and a budget with room, `search` healthy
with no rule and no budget; and a rival organization with its own outage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from analytics.alerts.evaluation import alerts_evaluate
from analytics.rollups.job import rollups_advance
from governance.models import Organization, Project
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import (
    AlertRuleFactory,
    ApiKeyFactory,
    BudgetFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceFactory,
)


@dataclass(frozen=True)
class HealthTenant:
    organization: Organization
    projects: dict[str, Project]
    now: datetime


def post(project: Project, events: list[dict[str, Any]]) -> None:
    key = ApiKeyFactory.create(service=ServiceFactory.create(project=project)).raw_key
    answer = APIClient().generic(
        "POST",
        "/api/v1/ingest",
        data=json.dumps({"batch": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.content


def traffic(
    count: int, *, now: datetime, prefix: str, failing: int = 0, blocked: int = 0
) -> list[dict[str, Any]]:
    """`count` requests over the last 40 minutes, each one attempt and a preprocess check;
    the first `failing` fail with no fallback, the first `blocked` are blocked."""
    events = []
    for index in range(count):
        moment = (now - timedelta(minutes=2 + index % 38)).isoformat()
        request_id = f"{prefix}-{index}"
        events.append(
            routing_event(
                request_id=request_id,
                timestamp=moment,
                latency_ms=200.0 + index % 50,
                status="error" if index < failing else "ok",
            )
        )
        verdict = "block" if index < blocked else "allow"
        events.append(enforcement_event(request_id=request_id, timestamp=moment, verdict=verdict))
    return events


def rule(project: Project, kind: str, threshold: str, *, name: str = "", **options: Any) -> None:
    AlertRuleFactory.create(
        project=project,
        name=name or kind.replace("_", " "),
        kind=kind,
        threshold=Decimal(threshold),
        window_minutes=60,
        for_minutes=0,
        min_requests=10,
        **options,
    )


def organization_with_outage(name: str, *, projects: tuple[str, ...]) -> HealthTenant:
    """`name` with the projects asked for, of the three above, rolled up and evaluated."""
    now = timezone.now()
    organization = OrganizationFactory.create(name=name)
    made = {
        project: ProjectFactory.create(organization=organization, name=project, matrix=True)
        for project in projects
    }
    if "checkout" in made:
        checkout = made["checkout"]
        post(checkout, traffic(40, now=now, prefix="c", failing=20))
        rule(checkout, "error_rate", "0.05")
        BudgetFactory.create(project=checkout, name="checkout monthly", amount_usd="0.01")
    if "support" in made:
        support = made["support"]
        post(support, traffic(50, now=now, prefix="s", blocked=5))
        rule(support, "error_rate", "0.05")
        rule(support, "latency_slo", "1000")
        rule(support, "over_interception", "0.5")
        # Scoped to one model: it watches part of the project, so it grades nothing.
        rule(support, "latency_slo", "1", name="gpt latency", scope_kind="model", scope_name="x")
        BudgetFactory.create(project=support, name="support monthly", amount_usd="100000")
    if "search" in made:
        post(made["search"], traffic(30, now=now, prefix="q"))
    rollups_advance(max_seconds=float("inf"))
    alerts_evaluate(now=now)
    return HealthTenant(organization=organization, projects=made, now=now)

"""The data the browser tests look at: an organization with two projects of traffic, an
over-interception alert firing, its ops and finance users, and a second organization."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from analytics.alerts.evaluation import alerts_evaluate
from analytics.rollups.job import rollups_advance
from governance.models import Organization
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import (
    AlertRuleFactory,
    ApiKeyFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceFactory,
    UserFactory,
)

PASSWORD = "browser-test-password-1"


@dataclass(frozen=True)
class BrowserTenant:
    organization: Organization
    now: datetime


def _post(project, service_name: str, events: list[dict]) -> None:
    key = ApiKeyFactory.create(
        service=ServiceFactory.create(project=project, name=service_name)
    ).raw_key
    client = APIClient()
    for start in range(0, len(events), 500):
        answer = client.generic(
            "POST",
            "/api/v1/ingest",
            data=json.dumps({"batch": events[start : start + 500]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.content


def _requests(count: int, *, now: datetime, prefix: str, model: str, blocked: int = 0) -> list:
    """`count` requests over the last 50 minutes, each an attempt and a preprocess check;
    the first `blocked` are blocked there."""
    events = []
    for index in range(count):
        moment = (now - timedelta(minutes=2 + index % 48, seconds=index % 50)).isoformat()
        request_id = f"{prefix}-{index}"
        events.append(
            routing_event(
                request_id=request_id,
                timestamp=moment,
                model=model,
                latency_ms=120.0 + index % 90,
                status="error" if index % 40 == 0 else "ok",
            )
        )
        events.append(
            enforcement_event(
                request_id=request_id,
                timestamp=moment,
                verdict="block" if index < blocked else "allow",
            )
        )
    return events


def browser_tenant_create(name: str = "acme", *, with_users: bool = True) -> BrowserTenant:
    now = timezone.now()
    organization = OrganizationFactory.create(name=name)
    support = ProjectFactory.create(organization=organization, name="support", matrix=True)
    trading = ProjectFactory.create(organization=organization, name="trading", matrix=True)
    _post(support, "router", _requests(300, now=now, prefix="s", model="gpt-5.4", blocked=15))
    _post(trading, "gateway", _requests(120, now=now, prefix="t", model="claude-opus-4.6"))
    AlertRuleFactory.create(
        project=support,
        name="over-interception",
        kind="over_interception",
        window_minutes=60,
        for_minutes=0,
        min_requests=10,
        recipients=["ops@example.com"],
    )
    rollups_advance(max_seconds=float("inf"))
    alerts_evaluate(now=now)
    if with_users:
        for role in ("ops", "finance"):
            UserFactory.create(
                organization=organization, username=f"{name}-{role}", role=role, password=PASSWORD
            )
    return BrowserTenant(organization=organization, now=now)

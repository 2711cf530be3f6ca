"""Dashboard fixtures: members of each role, and a morning's traffic in two projects of one
organization (plus a rival organization's, which must never show)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from analytics.rollups.job import rollups_advance
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import (
    ApiKeyFactory,
    ProjectFactory,
    ServiceFactory,
    UserFactory,
)

PASSWORD = "pw-123-long-enough"


@pytest.fixture
def member(organization):
    """A signed-in Client for a new member of `organization` with the given role."""

    def make(role: str, *, username: str | None = None, csrf: bool = False) -> Client:
        user = UserFactory.create(
            organization=organization, username=username or role, role=role, password=PASSWORD
        )
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(user)
        return client

    return make


def _post(events: list[dict[str, Any]], key: str) -> None:
    response = APIClient().post(
        "/api/v1/ingest",
        data=json.dumps({"batch": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == len(events)


def support_events(at: datetime) -> list[dict[str, Any]]:
    """30 requests on the support project: routed, failed over, blocked, modified, escaped."""
    stamp = at.isoformat()
    events = [
        routing_event(timestamp=stamp, request_id=f"ok-{i}", latency_ms=100 + i) for i in range(20)
    ]
    events += [
        routing_event(
            timestamp=stamp,
            request_id=f"claude-{i}",
            model="claude-opus-4.6",
            mode="routing_first",
            latency_ms=300.0,
        )
        for i in range(5)
    ]
    for i in range(2):  # a failed gpt-5.4 call served by a claude fallback
        events += [
            routing_event(timestamp=stamp, request_id=f"fail-{i}", status="error", latency_ms=900),
            routing_event(
                timestamp=stamp,
                request_id=f"fail-{i}",
                model="claude-opus-4.6",
                fallback_from="gpt-5.4",
                latency_ms=350,
            ),
        ]
    events += [
        routing_event(timestamp=stamp, request_id=f"mystery-{i}", model="mystery-model")
        for i in range(3)
    ]
    events += [
        enforcement_event(timestamp=stamp, request_id=f"ok-{i}", verdict="block", violation="pii")
        for i in range(4)
    ]
    events += [
        enforcement_event(
            timestamp=stamp, request_id=f"claude-{i}", layer="execution", verdict="modify"
        )
        for i in range(2)
    ]
    events.append(
        enforcement_event(
            timestamp=stamp,
            request_id="ok-10",
            layer="review",
            verdict="flag",
            violation="toxicity",
        )
    )
    return events


@pytest.fixture
def traffic(project, service, ingest_key, organization) -> dict[str, Any]:
    """acme/support (30 requests), acme/search (6 gemini requests in staging) and
    globex/rival (7 requests), all ten minutes ago, rolled up."""
    at = datetime.now(UTC) - timedelta(minutes=10)
    _post(support_events(at), ingest_key)

    search = ProjectFactory.create(organization=organization, name="search", matrix=True)
    search_key = ApiKeyFactory.create(
        service=ServiceFactory.create(project=search, name="indexer")
    ).raw_key
    _post(
        [
            routing_event(timestamp=at.isoformat(), model="gemini-3.1-pro", environment="staging")
            for _ in range(6)
        ],
        search_key,
    )

    rival = ProjectFactory.create(organization__name="globex", name="rival", matrix=True)
    rival_key = ApiKeyFactory.create(
        service=ServiceFactory.create(project=rival, name="secret-svc")
    ).raw_key
    _post(
        [routing_event(timestamp=at.isoformat(), model="rival-only-model") for _ in range(7)],
        rival_key,
    )
    rollups_advance(max_seconds=float("inf"))
    return {"at": at, "search": search, "rival": rival}


# --- Reading pages ------------------------------------------------------------------------


# Elements without a closing tag in these pages (or whose content never holds figures).
VOID = ("input", "br", "img", "meta", "link", "circle", "line", "rect", "path")


class _Metrics(HTMLParser):
    """Every element with data-metric, with the data-* attributes of its enclosing rows."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str]] = []
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {name: value or "" for name, value in attrs if name.startswith(("data-", "id"))}
        if tag not in VOID:
            self.stack.append(data)
        if "data-metric" in data:
            context: dict[str, str] = {}
            for ancestor in self.stack[:-1]:
                context.update(ancestor)
            self.found.append({**context, **data})

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()


def page_metrics(html: str) -> list[dict[str, str]]:
    parser = _Metrics()
    parser.feed(html)
    return parser.found


def headline(html: str) -> dict[str, dict[str, str]]:
    """The headline figures: metric -> its attributes (data-value, data-previous)."""
    return {
        item["data-metric"]: item for item in page_metrics(html) if item.get("id") == "headline"
    }


def rows(html: str, key: str) -> dict[str, dict[str, str]]:
    """Table cells by row: row key (data-model, data-layer...) -> {metric: data-value}."""
    answer: dict[str, dict[str, str]] = {}
    for item in page_metrics(html):
        if key in item:
            answer.setdefault(item[key], {})[item["data-metric"]] = item["data-value"]
    return answer


def page_window(html: str) -> dict[str, str]:
    """The window a page used, as API parameters."""
    match = re.search(r'id="window" data-from="([^"]+)" data-to="([^"]+)"', html)
    assert match, "the page shows no window"
    return {"from": match.group(1), "to": match.group(2)}


def as_number(value: str) -> float | None:
    return None if value == "" else float(value)

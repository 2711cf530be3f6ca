"""Shared fixtures: a tenant with the reference matrix, keys, and an API client."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import Organization, Project, Service
from tests.governance.factories import (
    ApiKeyFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceFactory,
    reference_matrix,
)

# reference_matrix stays importable from here, where the event builders live.
__all__ = ["enforcement_event", "reference_matrix", "routing_event"]


def routing_event(**overrides: Any) -> dict[str, Any]:
    """A valid routing event (one attempt), with any field overridden."""
    event = {
        "type": "routing",
        "event_id": str(uuid.uuid4()),
        "timestamp": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "model": "gpt-5.4",
        "mode": "hybrid",
        "input_tokens": 1200,
        "output_tokens": 300,
        "latency_ms": 140.5,
        "status": "ok",
    }
    event.update(overrides)
    return event


def enforcement_event(**overrides: Any) -> dict[str, Any]:
    """A valid enforcement event (one policy check), with any field overridden."""
    event = {
        "type": "enforcement",
        "event_id": str(uuid.uuid4()),
        "timestamp": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "layer": "preprocess",
        "policy": "pii-filter",
        "verdict": "allow",
        "check_latency_ms": 4.2,
    }
    event.update(overrides)
    return event


@pytest.fixture(autouse=True)
def _raw_tables_emptied_after_transactional_tests(request):
    """Django's flush skips unmanaged tables, so what a transactional test committed to the
    raw event tables would outlive it."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE ingestion_routingevent, ingestion_enforcementevent")


@pytest.fixture
def organization(db) -> Organization:
    return OrganizationFactory.create(name="acme")


@pytest.fixture
def project(organization) -> Project:
    return ProjectFactory.create(organization=organization, name="support", matrix=True)


@pytest.fixture
def service(project) -> Service:
    return ServiceFactory.create(project=project, name="router")


@pytest.fixture
def ingest_key(service) -> str:
    return ApiKeyFactory.create(service=service).raw_key


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


PostBatch = Callable[..., Any]


@pytest.fixture
def post_batch(api_client, ingest_key) -> PostBatch:
    """POST events to the ingest API as the project's ingest key (or another key / body)."""

    def post(
        events: list[Any] | None = None,
        *,
        key: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        gzip_body: bool = False,
        **headers: str,
    ):
        if body is None:
            body = json.dumps({"batch": events}).encode()
        if gzip_body:
            body = gzip.compress(body)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return api_client.generic(
            "POST",
            "/api/v1/ingest",
            data=body,
            content_type=content_type,
            HTTP_AUTHORIZATION=f"Bearer {key or ingest_key}",
            **headers,
        )

    return post

"""The tollgate-client package against the real Tollgate: a live server, a real ingest key,
and the rows it lands in the raw tables."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tollgate_client import Client

from ingestion.models import EnforcementEvent, RoutingEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, ingest_key) -> Iterator[Client]:
    made = Client(live_server.url, ingest_key, flush_interval_s=0.05, timeout_s=10)
    yield made
    made.close(timeout_s=5)


# A model call's required fields, where only its request id matters.
SMALL_CALL: dict[str, Any] = {
    "model": "gpt-5.4",
    "mode": "hybrid",
    "input_tokens": 1,
    "output_tokens": 1,
    "latency_ms": 1.0,
    "status": "ok",
}


def test_events_land_in_the_raw_tables_with_their_fields(client, project, service):
    moment = datetime.now(UTC) - timedelta(seconds=30)
    routing_id = client.routing(
        request_id="live-1",
        model="gpt-5.4",
        mode="hybrid",
        input_tokens=1200,
        output_tokens=300,
        latency_ms=142.5,
        status="error",
        error_type="upstream_5xx",
        fallback_from="claude-opus-4.6",
        route_reason="fallback",
        cache_read_tokens=400,
        cache_write_tokens=100,
        reasoning_tokens=50,
        cost_usd=Decimal("0.0125"),
        router_version="router-2026.12.1",
        environment="staging",
        attributes={"tenant": "t1"},
        timestamp=moment,
    )
    check_id = client.enforcement(
        request_id="live-1",
        layer="verification",
        policy="llm_judge_v1",
        verdict="block",
        check_latency_ms=8.25,
        violation="toxicity",
        severity="high",
        mode="hybrid",
        cost_usd="0.0004",
        policy_version="prompt-3",
    )

    assert client.flush(timeout_s=30)
    assert client.stats()["sent"] == 2
    routing = RoutingEvent.objects.get(event_id=routing_id)
    assert (routing.project_id, routing.service_id) == (project.pk, service.pk)
    assert (routing.model, routing.provider, routing.mode) == ("gpt-5.4", "openai", "hybrid")
    assert (routing.input_tokens, routing.output_tokens) == (1200, 300)
    assert (routing.cache_read_tokens, routing.cache_write_tokens, routing.reasoning_tokens) == (
        400,
        100,
        50,
    )
    assert (routing.status, routing.error_type, routing.fallback_from) == (
        "error",
        "upstream_5xx",
        "claude-opus-4.6",
    )
    assert routing.reported_cost_usd == Decimal("0.0125")
    assert routing.priced_cost_usd is not None  # priced from the matrix as well
    assert routing.latency_ms == 142.5 and routing.environment == "staging"
    assert routing.timestamp == moment
    assert routing.attributes == {"tenant": "t1"}
    check = EnforcementEvent.objects.get(event_id=check_id)
    assert (check.layer, check.policy, check.verdict) == ("verification", "llm_judge_v1", "block")
    assert (check.violation, check.severity, check.mode) == ("toxicity", "high", "hybrid")
    assert check.cost_usd == Decimal("0.0004") and check.check_latency_ms == 8.25
    assert check.request_id == "live-1" and check.policy_version == "prompt-3"


def test_a_resent_event_is_counted_once(client):
    event_id = str(uuid.uuid4())
    moment = datetime.now(UTC) - timedelta(seconds=5)
    for _ in range(3):  # a caller retrying on its own, with the same id and time
        client.routing(
            request_id="live-dup",
            model="gpt-5.4",
            mode="routing_first",
            input_tokens=10,
            output_tokens=5,
            latency_ms=20.0,
            status="ok",
            event_id=event_id,
            timestamp=moment,
        )

    assert client.flush(timeout_s=30)
    stats = client.stats()
    assert (stats["sent"], stats["duplicates"]) == (1, 2)
    assert RoutingEvent.objects.filter(event_id=event_id).count() == 1


def test_a_revoked_or_unknown_key_is_refused_and_counted(live_server):
    client = Client(live_server.url, "tg_nope1234_" + "x" * 32, flush_interval_s=0.05)
    try:
        client.routing(
            request_id="live-401",
            **SMALL_CALL,
        )
        assert client.flush(timeout_s=30) is False
        stats = client.stats()
        assert (stats["rejected"], stats["sent"], stats["retries"]) == (1, 0, 0)
    finally:
        client.close(timeout_s=2)
    assert not RoutingEvent.objects.filter(request_id="live-401").exists()


def test_an_event_the_server_refuses_is_counted_as_rejected(client):
    # Valid for the client, refused by the server: older than the retention window.
    client.routing(
        request_id="live-old",
        **SMALL_CALL,
        timestamp=datetime.now(UTC) - timedelta(days=400),
    )
    kept = client.routing(
        request_id="live-new",
        **SMALL_CALL,
    )

    assert client.flush(timeout_s=30) is False
    stats = client.stats()
    assert (stats["sent"], stats["rejected"], stats["retries"]) == (1, 1, 0)
    assert list(RoutingEvent.objects.values_list("event_id", flat=True)) == [uuid.UUID(kept)]


def test_the_callback_reports_a_litellm_call_to_tollgate(client, live_server):
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    litellm = pytest.importorskip("litellm")
    from tollgate_client.litellm import TollgateLogger

    callback = TollgateLogger(client=client, mode="routing_first", environment="staging")
    litellm.logging_callback_manager._reset_all_callbacks()
    litellm.callbacks = [callback]
    try:
        litellm.completion(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hello"}],
            mock_response="hi",
            metadata={"tollgate_request_id": "litellm-live-1"},
        )
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while client.stats()["sent"] == 0 and datetime.now(UTC) < deadline:
            client.flush(timeout_s=1)  # LiteLLM reports from its own thread, a moment later
    finally:
        litellm.logging_callback_manager._reset_all_callbacks()
        litellm.callbacks = []

    row = RoutingEvent.objects.get(request_id="litellm-live-1")
    assert (row.model, row.provider, row.mode, row.environment) == (
        "gpt-4o",
        "openai",
        "routing_first",
        "staging",
    )
    assert row.status == "ok" and row.input_tokens > 0 and row.output_tokens > 0
    assert row.reported_cost_usd is not None and row.reported_cost_usd > 0
    assert (row.attributes or {}).get("litellm_call_id")

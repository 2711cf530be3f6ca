"""The typed helpers: a bad value is a ValueError naming the field, in the caller."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tollgate_client import Client
from tollgate_client.events import finalize, new_event_id, routing_event

VALID: dict[str, Any] = {
    "request_id": "r-1",
    "model": "gpt-5.4",
    "mode": "hybrid",
    "input_tokens": 1200,
    "output_tokens": 300,
    "latency_ms": 142.0,
    "status": "ok",
}


@pytest.fixture
def client() -> Client:
    # Never started: validation fails before anything is queued.
    return Client("http://127.0.0.1:9", "tg_unused")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_id", ""),
        ("request_id", "x" * 129),
        ("request_id", 12),
        ("model", None),
        ("mode", "fastest"),
        ("status", "fine"),
        ("input_tokens", -1),
        ("input_tokens", 1.5),
        ("input_tokens", True),
        ("output_tokens", 2**31),
        ("latency_ms", float("nan")),
        ("latency_ms", -0.1),
        ("latency_ms", "142"),
        ("complexity_score", 100.5),
        ("user_tier", "gold"),
        ("cost_usd", "-1"),
        ("cost_usd", "1,5"),
        ("cost_usd", float("inf")),
        ("provider", "bad\x00name"),
        ("router_version", "v" * 65),
        ("attributes", {"blob": "x" * 9000}),
        ("attributes", {"when": datetime.now(timezone.utc)}),
        ("attributes", ["not", "a", "dict"]),
        ("event_id", "not-a-uuid"),
        ("timestamp", datetime(2026, 12, 1, 10, 0)),  # noqa: DTZ001  (naive on purpose)
        ("timestamp", "yesterday"),
        ("environment", ""),
    ],
)
def test_a_bad_routing_field_is_named(client: Client, field: str, value: Any) -> None:
    fields: dict[str, Any] = {**VALID, field: value}
    with pytest.raises(ValueError, match=rf"^{field}: "):
        client.routing(**fields)
    assert client.stats()["queued"] == 0


def test_token_parts_may_not_exceed_their_totals(client: Client) -> None:
    with pytest.raises(ValueError, match=r"^cache_read_tokens: "):
        client.routing(**{**VALID, "cache_read_tokens": 1000, "cache_write_tokens": 201})
    with pytest.raises(ValueError, match=r"^reasoning_tokens: "):
        client.routing(**{**VALID, "reasoning_tokens": 301})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("layer", "firewall"),
        ("verdict", "deny"),
        ("policy", ""),
        ("check_latency_ms", -1),
        ("severity", "urgent"),
        ("false_positive", "yes"),
        ("mode", "both"),
        ("policy_version", ""),
    ],
)
def test_a_bad_enforcement_field_is_named(client: Client, field: str, value: Any) -> None:
    fields: dict[str, Any] = {
        "request_id": "r-1",
        "layer": "execution",
        "policy": "pii",
        "verdict": "block",
        "check_latency_ms": 4.1,
        field: value,
    }
    with pytest.raises(ValueError, match=rf"^{field}: "):
        client.enforcement(**fields)


def test_an_unknown_field_is_a_type_error(client: Client) -> None:
    with pytest.raises(TypeError, match="colour"):
        client.routing(**VALID, colour="blue")  # type: ignore[call-arg]


def test_values_are_normalized_as_the_server_expects() -> None:
    moment = datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    event = routing_event(
        **VALID,
        now=0.0,
        cost_usd=Decimal("0.0125"),
        event_id="0B6F3C1E-9A55-4B53-9A4B-1F0F6A2D9C11",
        timestamp=moment,
    )
    finalize(event)
    assert event["cost_usd"] == "0.0125"
    assert event["event_id"] == "0b6f3c1e-9a55-4b53-9a4b-1f0f6a2d9c11"
    assert event["timestamp"] == "2026-12-01T08:00:00.250000+00:00"
    finalize(event)  # a retry re-serializes the same text
    assert event["timestamp"] == "2026-12-01T08:00:00.250000+00:00"


def test_the_client_needs_a_url_and_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOLLGATE_URL", raising=False)
    monkeypatch.delenv("TOLLGATE_API_KEY", raising=False)
    with pytest.raises(ValueError, match=r"^base_url: "):
        Client()
    monkeypatch.setenv("TOLLGATE_URL", "http://127.0.0.1:8000/")
    with pytest.raises(ValueError, match=r"^api_key: "):
        Client()
    monkeypatch.setenv("TOLLGATE_API_KEY", "tg_from_env")
    assert Client().url == "http://127.0.0.1:8000/api/v1/ingest"


def test_generated_event_ids_are_distinct_uuid4s() -> None:
    drawn = [new_event_id() for _ in range(5000)]  # several draws of the pool
    assert len(set(drawn)) == len(drawn)
    parsed = [uuid.UUID(event_id) for event_id in drawn]
    assert all(value.version == 4 and value.variant == uuid.RFC_4122 for value in parsed)
    assert all(str(value) == event_id for value, event_id in zip(parsed, drawn))


def test_epoch_seconds_are_formatted_to_the_nearest_microsecond() -> None:
    from tollgate_client.events import rfc3339

    for epoch_s in (1796436254.99217, 1796436255.0, 1796436255.9999996, 1796436255.123456):
        expected = datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="microseconds")
        assert rfc3339(epoch_s) == expected

"""Queueing many events at once, for the client's tests."""

from __future__ import annotations

from tollgate_client import Client


def send_routing(client: Client, count: int, prefix: str = "r") -> list[str]:
    """Queue `count` routing events; their event ids in order."""
    return [
        client.routing(
            request_id=f"{prefix}-{index}",
            model="gpt-5.4",
            mode="hybrid",
            input_tokens=1200,
            output_tokens=300,
            latency_ms=142.0,
            status="ok",
        )
        for index in range(count)
    ]

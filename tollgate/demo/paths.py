"""The three ways the demo's live traffic reaches Tollgate, one for each kind of service a team
runs: hand-written JSON to the ingest API, the `tollgate-client` package in a Python service,
and OpenTelemetry spans to `/v1/traces` from an instrumented one.

Each scenario keeps one path (`PATHS`; the ingest API unless named), so a project's live figures
arrive one way and the dashboard's totals gather all three. The week of history is posted
through the ingest API whatever the path: only the live minutes show the integrations at work.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from tollgate_client import Client

from tollgate.demo.poster import PostTotals, api_sender, post_retrying
from tollgate.demo.spans import spans_export
from tollgate.demo.traffic import SCENARIOS, Event

API, CLIENT, OTLP = "ingest API", "tollgate-client", "OTLP"
PATHS = {"content_platform": OTLP, "research_assistant": CLIENT}  # by scenario
OTLP_PATH = "/v1/traces"
CLIENT_CLOSE_TIMEOUT_S = 10.0


def path_of(scenario: str) -> str:
    return PATHS.get(scenario, API)


def paths_words() -> str:
    """Which scenario reports live by which path, for the demo's instructions."""
    named = ", ".join(
        f"{SCENARIOS[scenario].project} through {path}" for scenario, path in PATHS.items()
    )
    return f"{named}, the others through the {API}"


class LivePaths:
    """Sends each scenario's live batches by its path; a context manager that closes the
    clients (flushing what they hold) on the way out."""

    def __init__(
        self, http: httpx.Client, base_url: str, api_keys: Mapping[str, str], stop: threading.Event
    ) -> None:
        self.http, self.api_keys, self.stop = http, api_keys, stop
        self.api_send = api_sender(http, api_keys, stop=stop)
        self.clients = {
            scenario: Client(base_url=base_url, api_key=api_key)
            for scenario, api_key in api_keys.items()
            if path_of(scenario) == CLIENT
        }

    def send(self, scenario: str, batch: list[Event]) -> PostTotals:
        """Deliver one batch of the scenario's events; what was accepted, as far as is known
        (the client answers later: its events count as accepted once queued)."""
        path = path_of(scenario)
        if path == CLIENT:
            return _client_send(self.clients[scenario], batch)
        if path == OTLP:
            return self._spans_post(scenario, batch)
        return self.api_send(scenario, batch)

    def _spans_post(self, scenario: str, batch: list[Event]) -> PostTotals:
        service_name = SCENARIOS[scenario].project
        body = spans_export(batch, service_name=service_name).SerializeToString()
        headers = {
            "Authorization": f"Bearer {self.api_keys[scenario]}",
            "Content-Type": "application/x-protobuf",
        }
        response = post_retrying(self.http, OTLP_PATH, body, headers, stop=self.stop)
        rejected = ExportTraceServiceResponse.FromString(
            response.content
        ).partial_success.rejected_spans
        return PostTotals(events=len(batch), accepted=len(batch) - rejected, rejected=rejected)

    def __enter__(self) -> LivePaths:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for client in self.clients.values():
            client.close(timeout_s=CLIENT_CLOSE_TIMEOUT_S)


def _client_send(client: Client, batch: list[Event]) -> PostTotals:
    for event in batch:
        fields: dict[str, Any] = {key: value for key, value in event.items() if key != "type"}
        if event["type"] == "routing":
            client.routing(**fields)
        else:
            client.enforcement(**fields)
    return PostTotals(events=len(batch), accepted=len(batch))

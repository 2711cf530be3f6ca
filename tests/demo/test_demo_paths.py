"""The demo's three live paths (`tollgate.demo.paths`) against a live server: a few minutes of
three scenarios sent through the ingest API, the tollgate-client package and OTLP spans land
as the events the generator made, each path's events priced by the same price book."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from governance.models import Project
from ingestion.models import EnforcementEvent, RoutingEvent
from tollgate.demo.paths import API, CLIENT, OTLP, LivePaths, path_of
from tollgate.demo.simulation import TrafficPlan, minute_floor, minute_requests, minutes
from tollgate.demo.tenant import DemoState, demo_tenant_ensure
from tollgate.demo.traffic import SCENARIOS, Event

pytestmark = pytest.mark.django_db(transaction=True)

SENT = {"customer_service": API, "research_assistant": CLIENT, "content_platform": OTLP}
ROUTING_FIELDS = ("model", "mode", "input_tokens", "output_tokens", "status", "fallback_from")


def _events(scenario: str, start: datetime, end: datetime) -> list[Event]:
    plan = TrafficPlan(scenarios=(scenario,), seed="paths", incidents=())
    return [
        event
        for minute in minutes(start, end)
        for request in minute_requests(plan, scenario, minute, end=end)
        for event in request
    ]


def _attempt_key(event: Event | RoutingEvent) -> tuple:
    """What an attempt is, whichever path brought it (OTLP gives it new ids)."""
    if isinstance(event, RoutingEvent):
        return (
            event.timestamp,
            *(getattr(event, name) or None for name in ROUTING_FIELDS),
            event.cache_read_tokens,
        )
    return (
        datetime.fromisoformat(event["timestamp"]),
        *(event.get(name) for name in ROUTING_FIELDS),
        event.get("cache_read_tokens", 0),
    )


def test_each_scenario_takes_its_path_and_lands_whole(live_server):
    assert {scenario: path_of(scenario) for scenario in SENT} == SENT
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    keys = {scenario: state.scenario_keys()[scenario] for scenario in SENT}
    end = minute_floor(datetime.now(UTC)) - timedelta(minutes=5)
    sent = {scenario: _events(scenario, end - timedelta(minutes=4), end) for scenario in SENT}
    stop = threading.Event()
    with (
        httpx.Client(base_url=live_server.url, timeout=30) as http,
        LivePaths(http, live_server.url, keys, stop) as paths,
    ):
        for scenario, events in sent.items():
            totals = paths.send(scenario, events)
            assert (totals.events, totals.accepted, totals.rejected) == (
                len(events),
                len(events),
                0,
            )
        again = paths.send("content_platform", sent["content_platform"])  # a re-export
        assert again.rejected == 0
    # Leaving the paths closed the client, which flushed what it held.

    for scenario, events in sent.items():
        project = Project.objects.get(name=SCENARIOS[scenario].project)
        attempts = [event for event in events if event["type"] == "routing"]
        checks = [event for event in events if event["type"] == "enforcement"]
        assert attempts and checks, scenario  # four minutes of each scenario hold both
        stored = RoutingEvent.objects.filter(project_id=project.pk)
        assert sorted(map(_attempt_key, stored), key=str) == sorted(
            map(_attempt_key, attempts), key=str
        ), scenario
        assert all(event.priced_cost_usd is not None for event in stored)
        stored_checks = EnforcementEvent.objects.filter(project_id=project.pk)
        assert sorted(
            (c.timestamp, c.layer, c.policy, c.verdict, c.false_positive) for c in stored_checks
        ) == sorted(
            (
                datetime.fromisoformat(c["timestamp"]),
                c["layer"],
                c["policy"],
                c["verdict"],
                bool(c.get("false_positive")),
            )
            for c in checks
        ), scenario
        if SENT[scenario] == OTLP:
            # A request is a trace: its id is the request id's UUID, in hex.
            traces = {uuid.UUID(e["request_id"].removeprefix("req-")).hex for e in events}
            assert {event.request_id for event in stored} <= traces
        else:
            assert {str(event.event_id) for event in stored} == {e["event_id"] for e in attempts}

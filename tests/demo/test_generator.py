"""The traffic generator: deterministic per minute, incidents confined to their scenario and
time, and the pieces the demo builds on (batches, live catch-up, progress bar, budget size)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import httpx
import pytest
from django.core.wsgi import get_wsgi_application

from analytics.metrics.budgets import BudgetStatus
from governance.models import Budget, Project
from ingestion.models import RoutingEvent
from tollgate.demo.alerts import overrun_amount
from tollgate.demo.incidents import (
    ROUTER,
    Outage,
    OverInterception,
    Release,
    RouterDrift,
    demo_incidents,
)
from tollgate.demo.poster import api_sender, live_post, request_batches
from tollgate.demo.progress import ProgressBar
from tollgate.demo.simulation import (
    TrafficPlan,
    diurnal_factor,
    minute_floor,
    minute_requests,
    minutes,
    requests_count,
)
from tollgate.demo.tenant import DemoState, demo_tenant_ensure
from tollgate.demo.traffic import ROUTER_VERSION, SCENARIOS, Event

ANCHOR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
INCIDENTS = demo_incidents(ANCHOR)


def _plan(*scenarios: str, incidents: bool = True, seed: str = "s") -> TrafficPlan:
    return TrafficPlan(
        scenarios=scenarios or tuple(SCENARIOS),
        seed=seed,
        incidents=INCIDENTS if incidents else (),
    )


def _events(plan: TrafficPlan, scenario: str, start: datetime, end: datetime) -> list[Event]:
    return [
        event
        for minute in minutes(start, end)
        for request in minute_requests(plan, scenario, minute, end=end)
        for event in request
    ]


def _attempts(events: list[Event]) -> list[Event]:
    return [event for event in events if event["type"] == "routing"]


def test_a_minute_is_the_same_however_often_it_is_generated():
    minute = ANCHOR - timedelta(days=2)
    first = minute_requests(_plan(), "customer_service", minute)
    again = minute_requests(_plan(), "customer_service", minute)
    other_seed = minute_requests(_plan(seed="t"), "customer_service", minute)
    assert first == again and first
    ids = {event["event_id"] for request in first for event in request}
    assert ids.isdisjoint(event["event_id"] for request in other_seed for event in request)
    starts = [datetime.fromisoformat(request[0]["timestamp"]) for request in first]
    assert all(minute <= at < minute + timedelta(minutes=1) for at in starts)


def test_requests_count_matches_the_requests_made():
    plan, start = _plan(), ANCHOR - timedelta(hours=2)
    made = sum(
        len(minute_requests(plan, scenario, minute))
        for scenario in plan.scenarios
        for minute in minutes(start, ANCHOR)
    )
    assert requests_count(plan, start, ANCHOR) == made
    # About the scenarios' hourly rates, the time of day considered.
    expected = 2 * sum(s.requests_per_hour for s in SCENARIOS.values()) * diurnal_factor(ANCHOR)
    assert made == pytest.approx(expected, rel=0.15)


def test_the_day_averages_the_scenario_rate_and_the_week_passes_500k_events():
    day = [ANCHOR.replace(hour=0) + timedelta(minutes=m) for m in range(0, 1440, 10)]
    assert sum(diurnal_factor(at) for at in day) / len(day) == pytest.approx(1.0)
    week, pilot = timedelta(days=7), timedelta(hours=3)
    estimate = 0.0
    for scenario in SCENARIOS:
        plan = _plan(scenario)
        made = requests_count(plan, ANCHOR - pilot, ANCHOR)
        per_request = len(_events(plan, scenario, ANCHOR - pilot, ANCHOR)) / made
        estimate += requests_count(plan, ANCHOR - week, ANCHOR) * per_request
    assert estimate > 550_000  # the demo's week: at least 500,000 events with room to spare


def test_incidents_change_their_scenario_alone():
    start, end = ANCHOR - timedelta(minutes=30), ANCHOR
    for scenario in ("financial_trading", "medical_assistant"):
        with_incidents = _events(_plan(), scenario, start, end)
        assert with_incidents == _events(_plan(incidents=False), scenario, start, end)
    calm = ANCHOR - timedelta(days=3)  # long before any incident
    assert _events(_plan(), "customer_service", calm, calm + timedelta(minutes=30)) == _events(
        _plan(incidents=False), "customer_service", calm, calm + timedelta(minutes=30)
    )


def test_outage_fails_the_model_and_falls_back_throttled_at_first():
    outage = INCIDENTS[0]
    assert isinstance(outage, Outage) and outage.end is not None
    events = _events(
        _plan(), "customer_service", outage.start, outage.start + timedelta(minutes=20)
    )
    attempts = _attempts(events)
    gpt = [event for event in attempts if event["model"] == "gpt-5.4"]
    assert sum(event["status"] != "ok" for event in gpt) / len(gpt) > 0.85
    fallbacks = [event for event in attempts if event.get("fallback_from") == "gpt-5.4"]
    assert all(event["model"] == "claude-opus-4.6" for event in fallbacks)
    migrating = [
        event
        for event in fallbacks
        if datetime.fromisoformat(event["timestamp"]) < outage.start + outage.migration
    ]
    assert migrating and sum(e["status"] == "rate_limited" for e in migrating) > len(migrating) / 2
    later = [event for event in fallbacks if event not in migrating]
    assert later and all(event["status"] == "ok" for event in later)
    after = _events(_plan(), "customer_service", outage.end, outage.end + timedelta(minutes=20))
    gpt_after = [event for event in _attempts(after) if event["model"] == "gpt-5.4"]
    assert sum(event["status"] != "ok" for event in gpt_after) <= 2


def test_drift_moves_the_mix_and_breaks_band_conformance():
    drift = INCIDENTS[1]
    assert isinstance(drift, RouterDrift)
    settled = drift.start + drift.ramp
    events = _events(_plan(), "research_assistant", settled, settled + timedelta(minutes=60))
    attempts = [event for event in _attempts(events) if "fallback_from" not in event]
    mix = Counter(event["model"] for event in attempts)
    assert mix["claude-opus-4.6"] / len(attempts) > 0.45  # expected 20%
    # gpt-5.4's band (score below 30) served by claude-opus-4.6: the router's doing.
    misrouted = [
        event
        for event in attempts
        if event["model"] == "claude-opus-4.6" and event["complexity_score"] < 30
    ]
    assert len(misrouted) / len(attempts) > 0.25
    assert drift.share_at(drift.start + drift.ramp / 2) == pytest.approx(drift.share / 2)


def test_over_interception_blocks_and_modifies_with_the_new_policy():
    rogue = INCIDENTS[2]
    assert isinstance(rogue, OverInterception)
    events = _events(_plan(), "content_platform", ANCHOR - timedelta(hours=1), ANCHOR)
    requests = {event["request_id"] for event in events}
    stopped = {
        event["request_id"]
        for event in events
        if event["type"] == "enforcement"
        and event["policy"] == rogue.policy
        and event["verdict"] in ("block", "modify")
    }
    assert 0.03 < len(stopped) / len(requests) < 0.10
    overturned = {event["request_id"] for event in events if event.get("false_positive") is True}
    assert len(overturned & stopped) > len(stopped) / 3


def _release(component: str) -> Release:
    (release,) = (
        incident
        for incident in INCIDENTS
        if isinstance(incident, Release) and incident.component == component
    )
    return release


def _versions(events: list[Event], field: str) -> list[tuple[datetime, str]]:
    return [(datetime.fromisoformat(e["timestamp"]), e[field]) for e in events if field in e]


def test_a_router_release_spreads_over_a_few_minutes_old_and_new_interleaved():
    release = _release(ROUTER)
    scenario = release.scenario
    assert ANCHOR - timedelta(days=3) < release.start < ANCHOR - timedelta(days=1)
    start, end = release.start - timedelta(minutes=5), release.start + timedelta(minutes=10)
    events = _events(_plan(), scenario, start, end)
    versions = _versions(_attempts(events), "router_version")
    assert len(versions) == len(_attempts(events))  # every attempt names its router
    new = [at for at, version in versions if version == release.version]
    old = [at for at, version in versions if version == ROUTER_VERSION]
    assert len(new) + len(old) == len(versions)
    assert all(at < release.start for at in old[: len(old) // 2])
    assert min(new) >= release.start
    # Interleaved while it spreads: the last old answer minutes after the first new one.
    assert timedelta(minutes=2) < max(old) - min(new) <= release.propagation
    spreading = [
        v for at, v in versions if release.start <= at < release.start + release.propagation
    ]
    half = len(spreading) // 2
    early, late = spreading[:half], spreading[half:]
    assert early.count(release.version) / len(early) < late.count(release.version) / len(late)
    # A request's attempts (a fallback too) went through one router.
    by_request: dict[str, set[str]] = {}
    for event in _attempts(events):
        by_request.setdefault(event["request_id"], set()).add(event["router_version"])
    assert all(len(seen) == 1 for seen in by_request.values())
    # Other scenarios keep their router's version all week.
    others = _attempts(_events(_plan(), "medical_assistant", start, end))
    assert {event["router_version"] for event in others} == {ROUTER_VERSION}


def test_the_judges_prompt_update_carries_its_policy_version():
    release = _release("llm_judge_v1")
    start, end = release.start - timedelta(minutes=3), release.start + release.propagation * 2
    events = _events(_plan(), release.scenario, start, end)
    checks = [e for e in events if e["type"] == "enforcement" and e["policy"] == "llm_judge_v1"]
    versions = {version for _, version in _versions(checks, "policy_version")}
    assert versions == {"judge-prompt-7", release.version}
    assert all("policy_version" in event for event in checks)
    after = [
        v
        for at, v in _versions(checks, "policy_version")
        if at >= release.start + release.propagation
    ]
    assert after and set(after) == {release.version}


def test_judged_checks_report_their_cost_and_others_none():
    events = _events(
        _plan(incidents=False), "financial_trading", ANCHOR - timedelta(hours=1), ANCHOR
    )
    verification = [e for e in events if e.get("layer") == "verification"]
    assert verification and all(e["policy"] == "llm_judge_v1" for e in verification)
    costs = [Decimal(e["cost_usd"]) for e in verification]
    assert Decimal("0.01") < sum(costs) / len(costs) < Decimal("0.03")  # ~2,500 tokens at $0.007
    assert all(e["check_latency_ms"] >= 90 for e in verification)
    others = [e for e in events if e["type"] == "enforcement" and e not in verification]
    assert others and not any("cost_usd" in e or "policy_version" in e for e in others)
    # A judge that judges a share: customer service's verification is partly rule checks.
    service = _events(
        _plan(incidents=False), "customer_service", ANCHOR - timedelta(hours=1), ANCHOR
    )
    policies = Counter(e["policy"] for e in service if e.get("layer") == "verification")
    judged = policies["llm_judge_v1"] / sum(policies.values())
    judge = SCENARIOS["customer_service"].judge
    assert judge is not None and judged == pytest.approx(judge.share, abs=0.06)
    content = _events(
        _plan(incidents=False), "content_platform", ANCHOR - timedelta(hours=1), ANCHOR
    )
    assert not any("cost_usd" in e for e in content)


def test_batches_hold_whole_requests_and_at_most_1000_events():
    requests = [[{"n": index}] * (1 + index % 7) for index in range(1200)]
    packed = list(request_batches(requests))
    assert all(len(batch) <= 1000 for batch, _ in packed)
    assert sum(count for _, count in packed) == 1200
    assert [event for batch, _ in packed for event in batch] == [e for r in requests for e in r]


def test_at_rate_scales_the_plan_to_requests_a_second():
    plan = _plan().at_rate(2.0)
    assert plan.requests_per_hour() == pytest.approx(7200)
    assert plan.incidents == INCIDENTS and plan.seed == "s"


def test_progress_bar_writes_percent_rate_and_time_left():
    stream, now = StringIO(), [100.0]
    bar = ProgressBar(1000, label="Posting", stream=stream, clock=lambda: now[0])
    now[0] = 110.0
    bar.advance(500, 20_000)
    now[0] = 120.0
    bar.advance(500, 20_000)
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("Posting [###############...............]  50.0%")
    assert "20,000 events  2,000 events/s  ETA 0:10" in lines[0]
    assert "100.0%" in lines[-1] and "ETA 0:00" in lines[-1]
    assert len(lines) == 2  # a non-terminal gets one line per tenth, not one per batch


def _status(spent: str, forecast: str) -> BudgetStatus:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return BudgetStatus(
        budget=Budget(amount_usd=Decimal("1")),
        period_start=start,
        period_end=datetime(2026, 4, 1, tzinfo=UTC),
        spent=Decimal(spent),
        run_rate_per_day=Decimal("1"),
        forecast=Decimal(forecast),
        percent=0.0,
    )


@pytest.mark.parametrize(
    ("spent", "forecast", "amount"),
    [
        ("850.00", "3000.00", "1000.00"),  # 85% spent, forecast far beyond
        ("950.00", "1000.00", "975.00"),  # late in the period: halfway, still over 80%
        ("0", "0", None),  # nothing spent: nothing to size
        ("500.00", "500.01", None),  # nothing left to forecast
    ],
)
def test_overrun_amount(spent, forecast, amount):
    sized = overrun_amount(_status(spent, forecast))
    assert sized == (Decimal(amount) if amount else None)
    if sized is not None:
        assert Decimal(spent) / sized >= Decimal("0.8") and Decimal(forecast) > sized > Decimal(
            spent
        )


@pytest.mark.django_db(transaction=True)
def test_live_post_tops_up_the_gap_and_says_where_to_resume():
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    keys = {"content_platform": state.scenario_keys()["content_platform"]}
    now = datetime.now(UTC)
    since = minute_floor(now) - timedelta(minutes=6)
    stop, resumes = threading.Event(), []

    def resume_point(minute: datetime) -> None:
        resumes.append(minute)
        stop.set()  # one round: the gap is posted at once

    plan = _plan("content_platform", incidents=False)
    transport = httpx.WSGITransport(app=get_wsgi_application())
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        totals = live_post(
            send=api_sender(client, keys, stop=stop),
            scenarios=keys,
            catch_up_plan=plan,
            live_plan=plan.at_rate(0.5),
            since=since,
            stop=stop,
            on_minute=resume_point,
        )
    assert resumes == [minute_floor(now) + timedelta(minutes=1)]
    assert totals.rejected == 0 and totals.accepted == totals.events > 0
    assert 0 < totals.requests < totals.events  # each request counted once, by its first event
    project = Project.objects.get(name=SCENARIOS["content_platform"].project)
    stored = RoutingEvent.objects.filter(project_id=project.pk).order_by("timestamp")
    times = list(stored.values_list("timestamp", flat=True))
    assert times and since <= times[0] and times[-1] <= datetime.now(UTC)

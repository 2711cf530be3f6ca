"""The demo's routing-drift rules against its own clean traffic at night, without a database:
the generator's requests of the quiet projects, windowed as the rule reads them (the requests
of the window before each five-minute evaluation, judged when there are at least its
`min_requests`; the PSI of the first attempts' models against the expected shares).

At night a scenario makes about 0.6 of its mean hourly rate, so a small window judges a mix of
few requests. The night below, with the incident tests' seed, holds a run of 51 financial-trading
requests without its 20% model (04:45-05:30 UTC): an hour of 50 requests read it as drift.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from analytics.metrics.drift import psi
from tollgate.demo.alerts import rules_document
from tollgate.demo.simulation import TrafficPlan, minute_requests, minutes
from tollgate.demo.traffic import SCENARIOS, Event

NIGHT = (datetime(2026, 12, 5, 0, 0, tzinfo=UTC), datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
SEED = "demo-test"
STEP = timedelta(minutes=5)


def night_psi(scenario: str, *, window_minutes: int, min_requests: int) -> list[float]:
    """The PSI of each evaluation of the night that has enough requests to judge."""
    plan = TrafficPlan(scenarios=(scenario,), seed=SEED)
    window = timedelta(minutes=window_minutes)
    start, end = NIGHT
    requests = [
        (minute, events)
        for minute in minutes(start - window, end)
        for events in minute_requests(plan, scenario, minute)
    ]
    expected = dict(SCENARIOS[scenario].model_shares)
    judged = []
    at = start
    while at < end:
        inside = [events for minute, events in requests if at - window <= minute < at]
        if len(inside) >= min_requests:
            judged.append(psi(_mix(inside), expected))
        at += STEP
    return [value for value in judged if value is not None]


def _mix(requests: list[list[Event]]) -> dict[str, float]:
    models = Counter(
        event["model"]
        for events in requests
        for event in events
        if event["type"] == "routing" and not event.get("fallback_from")
    )
    total = sum(models.values())
    return {model: count / total for model, count in models.items()}


@pytest.mark.parametrize("project", ["financial-trading", "medical-assistant"])
def test_a_quiet_projects_clean_night_judges_no_drift(project):
    scenario = next(key for key, s in SCENARIOS.items() if s.project == project)
    (rule,) = [
        rule for rule in rules_document(project)["alert_rules"] if rule["kind"] == "routing_drift"
    ]
    judged = night_psi(
        scenario, window_minutes=rule["window_minutes"], min_requests=rule["min_requests"]
    )
    assert len(judged) > 50  # the night is judged, not skipped for want of requests
    assert max(judged) <= rule["threshold"]


def test_an_hour_of_50_requests_read_that_night_as_drift():
    # What the rule judged before: the run without the 20% model breaches 0.25.
    judged = night_psi("financial_trading", window_minutes=60, min_requests=50)
    assert max(judged) > 0.25

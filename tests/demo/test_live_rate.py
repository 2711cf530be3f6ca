"""The demo's live traffic runs at the history's pace, scenario by scenario: a faster stream
would make the last hour look like an incident next to the week."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tollgate.demo.live import LiveTraffic
from tollgate.demo.simulation import requests_count
from tollgate.demo.tenant import DemoState
from tollgate.demo.traffic import SCENARIOS

ANCHOR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _live() -> LiveTraffic:
    state = DemoState(passwords={}, keys={}, traffic_end=ANCHOR.isoformat())
    return LiveTraffic(state, "http://127.0.0.1:1")  # not started: nothing is posted


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_live_requests_a_minute_equal_the_historys(scenario):
    live = _live()
    history = replace(live.plan, scenarios=(scenario,))
    stream = replace(live.live_plan, scenarios=(scenario,))
    # A whole day each, so the time of day weighs the same on both sides.
    history_per_minute = requests_count(history, ANCHOR - DAY, ANCHOR) / 1440
    live_per_minute = requests_count(stream, ANCHOR, ANCHOR + DAY) / 1440
    expected = SCENARIOS[scenario].requests_per_hour / 60
    assert history_per_minute == pytest.approx(expected, rel=0.1)
    assert live_per_minute == pytest.approx(history_per_minute, rel=0.1)
    assert stream.requests_per_hour() == pytest.approx(history.requests_per_hour())


def test_the_demo_as_a_whole_streams_at_the_historys_rate():
    live = _live()
    total = sum(scenario.requests_per_hour for scenario in SCENARIOS.values())
    assert live.live_plan.requests_per_hour() == pytest.approx(total)
    assert live.plan.requests_per_hour() == pytest.approx(total)

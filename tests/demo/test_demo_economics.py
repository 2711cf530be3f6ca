"""The demo's economics, measured: each scenario's savings multiple near the reference article's
(2-4x, not hundreds), its LLM judge paying for its calls, and the savings coming from where the
scenario's architecture puts them.

Three hours of every scenario (twice its usual pace, without incidents) are stored through the
ingest service with the demo tenant's own keys and settings, rolled up, and summed by the same
summary and policy table the API answers with.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.metrics.breakdowns import metrics_policies
from analytics.rollups.job import rollups_advance
from analytics.selectors import MetricsQuery, Window, metrics_summary
from governance.models import Project
from governance.selectors import api_key_for_secret
from ingestion.services import events_ingest
from tollgate.demo.simulation import TrafficPlan, minute_floor, minute_requests, minutes
from tollgate.demo.tenant import DemoState, demo_tenant_ensure
from tollgate.demo.traffic import SCENARIOS, batches

pytestmark = pytest.mark.django_db(transaction=True)  # the tenant closes every connection

NOW = minute_floor(timezone.now())
START = NOW - timedelta(hours=3)
# The article's multiples (section 5.5 and section 7): savings / implementation cost.
ARTICLE_MULTIPLE = {
    "customer_service": 4.0,
    "financial_trading": 3.75,
    "medical_assistant": 2.0,
    "content_platform": 3.5,
    "research_assistant": 3.0,
}


@pytest.fixture
def demo_traffic() -> dict[str, MetricsQuery]:
    """The demo tenant with three hours of clean traffic; a query per scenario's project."""
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    plan = TrafficPlan(scenarios=tuple(SCENARIOS), seed="economics", scale=2.0)
    for scenario in SCENARIOS:
        api_key = api_key_for_secret(state.scenario_keys()[scenario])
        assert api_key is not None
        events = (
            event
            for minute in minutes(START, NOW)
            for request in minute_requests(plan, scenario, minute, end=NOW)
            for event in request
        )
        for batch in batches(events):
            stored = events_ingest(api_key=api_key, events=batch, now=timezone.now())
            assert stored.rejected == 0, stored.errors[:1]
    rollups_advance(max_seconds=float("inf"))
    window = Window.of(START, NOW)
    return {
        name: MetricsQuery(window=window, projects=(Project.objects.get(name=scenario.project),))
        for name, scenario in SCENARIOS.items()
    }


def test_each_scenario_returns_about_the_articles_multiple(demo_traffic):
    """A few times what enforcement costs (a three-hour sample is noisy: a few dozen caught
    violations), and from where the architecture puts the savings: enforcement-first mostly
    incidents, routing-first mostly tokens (article 5.2), hybrid both, routing the larger."""
    for name, query in demo_traffic.items():
        summary = metrics_summary(query)
        assert summary.requests > 300, name  # about 500 in three hours, a few less some runs
        multiple, roi = summary.savings_multiple, summary.roi
        assert multiple is not None and roi is not None, name
        # Near the article's 2-4x (1.5-6x: three hours hold a few dozen caught violations, so
        # a sample's multiple moves by a third or more from run to run; financial trading gave
        # 4.9 and 5.8 against the article's 3.75), not the hundreds free checks gave.
        assert 1.5 <= multiple <= 6.0, (name, multiple, ARTICLE_MULTIPLE[name])
        assert roi == pytest.approx(multiple - 1, abs=1e-5)  # ROI nets the cost out

        routing, errors = summary.routing_savings_usd, summary.error_cost_savings_usd
        assert routing > 0 and errors > 0, name
        mode = SCENARIOS[name].mode
        if mode == "enforcement_first":
            assert errors > 3 * routing, name
        elif mode == "routing_first":
            assert routing > 5 * errors, name
        else:
            assert errors < routing < 4 * errors, name


def test_the_llm_judge_reports_what_its_calls_cost(demo_traffic):
    """The judge's checks carry their reported cost (a few thousand tokens at its model's
    price); the project's other checks cost its `check_cost` each."""
    for name, query in demo_traffic.items():
        scenario = SCENARIOS[name]
        rows = {row.policy: row for row in metrics_policies(query)}
        check_usd = Decimal(scenario.economics.check_usd)
        for policy, row in rows.items():
            if scenario.judge is not None and policy == scenario.judge.policy:
                continue
            assert row.check_cost_usd == row.checks * check_usd, policy
        if scenario.judge is None:
            assert "llm_judge_v1" not in rows, name
            continue
        judge = rows[scenario.judge.policy]
        assert judge.layer == "verification"
        per_call = judge.check_cost_usd / judge.checks
        low = scenario.judge.rubric_tokens[0] * scenario.judge.price_per_1k / 1000
        assert low <= per_call <= 3 * low, (name, per_call)
        assert judge.check_latency_ms.p50 is not None and judge.check_latency_ms.p50 > 50

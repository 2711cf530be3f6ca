"""The demo generator at small scale: each incident raises its alert, clean traffic none.

Three hours of every scenario (a few hundred to a thousand requests each) are posted through
the real ingest API, rolled up and judged with the demo's own rules files, the evaluation
replayed every five minutes as the demo does on its first run.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.utils import timezone

from analytics.dashboard.filters import selection_from
from analytics.dashboard.health import BAD, health_rows
from analytics.metrics.advice import project_advice
from analytics.metrics.query import MetricsQuery
from analytics.metrics.window import Window
from analytics.models import Alert, AlertState, BudgetNotice
from analytics.rollups.job import rollups_advance
from analytics.rollups.reconcile import rollups_reconcile
from governance.models import Organization, Project
from tollgate.demo.alerts import (
    OVERRUN_PROJECT,
    alerts_replay,
    demo_rules_load,
    overrun_budget_size,
)
from tollgate.demo.incidents import demo_incidents
from tollgate.demo.poster import PostTotals, history_post
from tollgate.demo.simulation import TrafficPlan, minute_floor
from tollgate.demo.tenant import ORGANIZATION, DemoState, demo_tenant_ensure
from tollgate.demo.traffic import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)

# The latest 16:00 UTC past: the three hours of history are always the afternoon's, the demo's
# busiest (tollgate.demo.simulation), whenever the suite runs. At night a scenario makes a third
# as many requests, and which of the rules' small-sample judgements held depended on the hour CI
# ran at; the night is judged without the clock (test_demo_rules).
_RUN_AT = minute_floor(timezone.now())
NOW = _RUN_AT.replace(hour=16, minute=0) - timedelta(days=int(_RUN_AT.hour < 16))
ANCHOR = NOW - timedelta(minutes=40)  # the outage (anchor -70 to +15 min) ended 25 min ago
HISTORY = timedelta(hours=3)
CLEAN = ("financial-trading", "medical-assistant")


@pytest.fixture
def demo_keys() -> dict[str, str]:
    """The demo tenant with its rules; the ingest key of each scenario."""
    state = DemoState(passwords={}, keys={})
    organization = demo_tenant_ensure(state)
    demo_rules_load(organization)
    return state.scenario_keys()


def _post(api_keys: dict[str, str], *, incidents: bool) -> PostTotals:
    plan = TrafficPlan(
        scenarios=tuple(SCENARIOS),
        seed="demo-test",
        incidents=demo_incidents(ANCHOR) if incidents else (),
    )
    # The real Django application in-process, behind the same client the command uses.
    transport = httpx.WSGITransport(app=get_wsgi_application())
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        totals = history_post(
            client=client,
            api_keys=api_keys,
            plan=plan,
            start=NOW - HISTORY,
            end=NOW,
            concurrency=1,  # one thread: the test's own database connection
        )
    rollups_advance(max_seconds=float("inf"))
    return totals


def _alert(project: str, kind: str, scope: str = "project") -> Alert:
    return Alert.objects.get(project__name=project, kind=kind, scope=scope, rule__isnull=False)


def _replay() -> None:
    alerts_replay(start=NOW - timedelta(hours=2), end=NOW, step=timedelta(minutes=5))


def test_each_incident_raises_its_alert(demo_keys):
    totals = _post(demo_keys, incidents=True)
    assert totals.rejected == 0 and totals.accepted == totals.events > 5000
    budget = overrun_budget_size(Organization.objects.get(name=ORGANIZATION), NOW)
    _replay()

    # (a) The outage: gpt-5.4 failed over to claude-opus-4.6, fired, and resolved once it
    # ended, with the time its traffic took to migrate.
    outage = _alert("customer-service", "model_failure", scope="model:gpt-5.4")
    assert outage.firing_since is not None and outage.firing_since < ANCHOR
    assert outage.state == AlertState.RESOLVED
    assert outage.resolved_at is not None and outage.resolved_at > ANCHOR
    assert 0 <= outage.details["migration_seconds"] <= 180
    assert not Alert.objects.filter(kind="model_failure", scope="model:claude-opus-4.6").exists()
    assert _alert("customer-service", "error_rate").firing_since is not None

    # (b) The drifting router, still drifting.
    drift = _alert("research-assistant", "routing_drift")
    assert drift.state == AlertState.FIRING
    assert drift.value is not None
    assert drift.value > 0.25 or drift.details["conformance"] < 0.8

    # (c) The over-intercepting policy, still over-intercepting.
    interception = _alert("content-platform", "over_interception")
    assert interception.state == AlertState.FIRING
    assert interception.value is not None and interception.value > 0.03
    # ... and the rule that watches the new policy by name names it. It fired over its 25%;
    # its rate is read from the 10-25 checks an hour the policy makes (fewer at night), so by
    # the end of the replay a dip may have resolved it and it may be pending again.
    policy = _alert("content-platform", "over_interception", scope="policy:output_safety_v2")
    fired = list(
        policy.evaluations.filter(state_after=AlertState.FIRING).values_list("value", flat=True)
    )
    assert fired and all(value is not None and value > 0.25 for value in fired)
    assert policy.state != AlertState.FIRING or (policy.value or 0) > 0.25

    # (d) The budget on course to overrun: 50% and 80% crossed, forecast beyond the amount.
    assert budget is not None and budget.project is not None
    assert budget.project.name == OVERRUN_PROJECT
    notices = set(BudgetNotice.objects.filter(budget=budget).values_list("threshold", flat=True))
    assert {"50", "80", "forecast"} <= notices and "100" not in notices
    assert Alert.objects.get(budget=budget).state == AlertState.FIRING

    # The scenarios without incidents raise nothing, and no other budget notifies.
    assert not Alert.objects.filter(project__name__in=CLEAN).exists()
    assert set(BudgetNotice.objects.values_list("budget", flat=True)) == {budget.pk}


def test_traffic_without_incidents_raises_no_alert(demo_keys):
    totals = _post(demo_keys, incidents=False)
    assert totals.rejected == 0 and totals.accepted > 5000
    # Five scenarios' rollups agree with their raw events (the rollup_mismatch rules judge it).
    reconciled = rollups_reconcile()
    assert reconciled.hours_checked >= 15 and reconciled.differences == []
    _replay()
    # The research assistant running against its profile is no incident: the mismatch is the
    # demo's by design, whatever the traffic (nothing else may fire).
    alerts = Alert.objects.exclude(project__name="research-assistant", kind="architecture_mismatch")
    assert list(alerts.values_list("project__name", "kind", "scope")) == []
    assert not BudgetNotice.objects.exists()

    # Its profile recommends routing_first while it runs hybrid: advice finds the mismatch and
    # the project's architecture_mismatch rule fires on it.
    research = Project.objects.get(name="research-assistant")
    window = Window.of(NOW - timedelta(hours=1), NOW)
    advice = project_advice(MetricsQuery(window=window, projects=(research,)), research)
    assert advice.recommendation.recommended_mode == "routing_first"
    assert advice.measured is not None and advice.measured.mode == "hybrid"
    (mismatch,) = advice.holding(["mode_mismatch"])
    assert mismatch.message.startswith("your profile calls for routing-first and you run hybrid")
    alert = _alert("research-assistant", "architecture_mismatch")
    assert alert.state == AlertState.FIRING
    assert alert.details["findings"] == [{"code": "mode_mismatch", "message": alert.summary}]
    assert alert.summary.startswith("your profile calls for routing-first and you run hybrid")


def test_the_overviews_health_grid_flags_each_incidents_project(demo_keys):
    """What a newcomer sees first: the outage's project over its error-rate and latency rules
    (its alerts resolved, still shown), the over-intercepting one over its rule, the drifting
    one by its firing alert; the clean projects flagged nowhere."""
    _post(demo_keys, incidents=True)
    _replay()
    organization = Organization.objects.get(name=ORGANIZATION)
    now = timezone.now()
    selection = selection_from({"range": "24h"}, organization_id=organization.pk, now=now)
    rows = {
        row.project: {cell.metric: cell for cell in row.cells}
        for row in health_rows(selection, organization_id=organization.pk, now=now)
        if row.flagged
    }
    assert sorted(rows) == ["content-platform", "customer-service", "research-assistant"]
    outage = rows["customer-service"]
    assert outage["error_rate"].grade == outage["latency_p95_ms"].grade == BAD
    assert outage["firing_alerts"].cue == "resolved"
    assert rows["content-platform"]["interception_rate"].grade == BAD
    assert rows["research-assistant"]["firing_alerts"].grade == BAD

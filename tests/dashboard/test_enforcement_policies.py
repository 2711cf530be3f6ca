"""The enforcement page's per-policy table and chart: the demo's over-intercepting
output-safety policy is found by name at the top, every row is the metrics API's, each name
links to the policy's intercepted requests, and another organization sees none of it."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape, unescape
from urllib.parse import urlencode

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.test import Client
from django.utils import timezone

from analytics.rollups.job import rollups_advance
from governance.models import Organization
from tests.dashboard.conftest import as_number, page_window, rows
from tests.governance.factories import UserFactory
from tollgate.demo.incidents import OverInterception, demo_incidents
from tollgate.demo.poster import history_post
from tollgate.demo.simulation import TrafficPlan, minute_floor
from tollgate.demo.tenant import DemoState, demo_tenant_ensure

pytestmark = pytest.mark.django_db(transaction=True)

NOW = minute_floor(timezone.now())
ANCHOR = NOW - timedelta(minutes=40)
PAGE = "/dashboard/enforcement/"


@pytest.fixture
def demo_content_platform() -> Organization:
    return demo_content_platform_posted()


def demo_content_platform_posted() -> Organization:
    """Two hours of the demo's content platform, its over-intercepting policy included."""
    state = DemoState(passwords={}, keys={})
    organization = demo_tenant_ensure(state)
    plan = TrafficPlan(
        scenarios=("content_platform",), seed="policies-test", incidents=demo_incidents(ANCHOR)
    )
    transport = httpx.WSGITransport(app=get_wsgi_application())
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        totals = history_post(
            client=client,
            api_keys=state.scenario_keys(),
            plan=plan,
            start=NOW - timedelta(hours=2),
            end=NOW,
            concurrency=1,
        )
    assert totals.rejected == 0
    rollups_advance(max_seconds=float("inf"))
    return organization


def rogue_policy() -> str:
    (rogue,) = [i for i in demo_incidents(ANCHOR) if isinstance(i, OverInterception)]
    return rogue.policy


def _policy_names(html: str) -> list[str]:
    """The policy rows of the table, in the order shown."""
    table = html.split('id="policies"', 1)[1].split("</table>", 1)[0]
    return [unescape(name) for name in re.findall(r'<tr data-policy="([^"]+)"', table)]


def test_the_over_intercepting_policy_is_named_first_with_the_apis_figures(
    demo_content_platform,
):
    client = Client()
    client.force_login(UserFactory.create(organization=demo_content_platform, role="ops"))
    html = client.get(PAGE, {"range": "1h"}).content.decode()
    rogue = rogue_policy()
    names = _policy_names(html)
    assert names[0] == rogue  # the most intercepting first: it stands out by name
    assert '<div class="table-scroll">\n<table id="policies">' in html
    # The link keeps the page's range: the list is of the same window.
    query = urlencode({"range": "1h", "policy": rogue})
    link = f'href="/dashboard/enforcement/interceptions/?{escape(query)}"'
    assert link in html
    assert "Interception rate per policy" in html  # the chart over time

    api = client.get("/api/v1/metrics/policies", page_window(html)).json()["rows"]
    assert [row["policy"] for row in api] == names
    table = rows(html, "data-policy")
    for row in api:
        shown = table[row["policy"]]
        for name in ("checks", "blocks", "modifies", "flags", "false_positives"):
            assert as_number(shown[name]) == row[name], (row["policy"], name)
        assert as_number(shown["interception_rate"]) == row["interception_rate"]
        assert as_number(shown["check_latency_p95_ms"]) == row["check_latency_ms"]["p95"]
        assert shown["check_cost_usd"] == row["check_cost_usd"]
    assert api[0]["interception_rate"] > 3 * api[1]["interception_rate"]
    assert api[0]["false_positives"] > 0  # its overturned blocks are counted on it

    filtered = client.get(PAGE, {"range": "1h", "policy": rogue}).content.decode()
    assert _policy_names(filtered) == [rogue]
    assert f'<option value="{rogue}" selected>' in filtered


def test_another_organization_sees_none_of_the_policies(demo_content_platform, member):
    client = member("ops", username="acme-ops")  # the demo has its own "ops"
    html = client.get(PAGE, {"range": "1h"}).content.decode()
    assert _policy_names(html) == []
    assert rogue_policy() not in html
    refused = client.get(PAGE, {"policy": "p" * 101})
    assert refused.status_code == 400 and b"policy" in refused.content

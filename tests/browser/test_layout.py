"""Every dashboard page at 1440 px and 390 px over demo-like data (three hours of the demo's
scenarios with their incidents, the demo's rules and budgets, alerts replayed): no console
error, nothing wider than the viewport (a table may be, inside the card it scrolls in), and
each page's headline figure is the metrics API's answer for the window the page shows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.utils import timezone

from analytics.rollups.job import rollups_advance
from ingestion.models import RoutingEvent
from tests.browser.conftest import ConsoleWatch, screenshot
from tollgate.demo.alerts import alerts_replay, demo_rules_load, overrun_budget_size
from tollgate.demo.incidents import demo_incidents
from tollgate.demo.poster import history_post
from tollgate.demo.simulation import TrafficPlan, minute_floor
from tollgate.demo.tenant import DemoState, demo_tenant_ensure
from tollgate.demo.traffic import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1440, 390)
HISTORY = timedelta(hours=3)
# Each page and the headline figure checked against the summary API: (data-metric, API key).
PAGES: dict[str, tuple[str, str | None, str | None]] = {
    "overview": ("/dashboard/", "requests", "requests"),
    "reliability": ("/dashboard/reliability/", "availability", "availability"),
    "enforcement": ("/dashboard/enforcement/", "interception_rate", "interception_rate"),
    "routing": ("/dashboard/routing/", "attempts", "attempts"),
    "cost": ("/dashboard/cost/", "cost_usd", "cost_usd"),
    "architectures": ("/dashboard/architectures/", "requests", "requests"),
    "alerts": ("/dashboard/alerts/", None, None),
}
# Elements past the right edge of the viewport, other than those inside a .table-scroll or
# a chart's card that scrolls (its own box stays inside the page).
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const element of document.querySelectorAll("body *")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 0.5) continue;
    const scroller = element.closest(".table-scroll, figure.panel");
    if (scroller && scroller.getBoundingClientRect().right <= width + 0.5
        && scroller.scrollWidth > scroller.clientWidth) continue;
    wide.push(`${element.tagName.toLowerCase()}.${element.className} right=${box.right}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


@pytest.fixture
def demo(live_server) -> dict[str, str]:
    """The demo tenant with three hours of its traffic and incidents: the users' passwords."""
    state = DemoState(passwords={}, keys={})
    organization = demo_tenant_ensure(state)
    demo_rules_load(organization)
    now = minute_floor(timezone.now())
    plan = TrafficPlan(
        scenarios=tuple(SCENARIOS),
        seed="layout-test",
        incidents=demo_incidents(now - timedelta(minutes=40)),
    )
    transport = httpx.WSGITransport(app=get_wsgi_application())
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        history_post(
            client=client,
            api_keys=state.scenario_keys(),
            plan=plan,
            start=now - HISTORY,
            end=now,
            concurrency=1,  # one thread: the test's own database connection
        )
    rollups_advance(max_seconds=float("inf"))
    overrun_budget_size(organization, now)
    alerts_replay(start=now - timedelta(hours=2), end=now, step=timedelta(minutes=5))
    return state.passwords


def _sign_in(page: Any, base_url: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard/")


def _api_summary(page: Any, base_url: str) -> dict[str, Any]:
    window = page.locator("#window")
    params = {"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")}
    answer = page.request.get(f"{base_url}/api/v1/metrics/summary?{urlencode(params)}")
    assert answer.ok, answer.text()
    return answer.json()


def _same(shown: str, answered: Any) -> bool:
    if answered is None:
        return shown in ("", None)
    return Decimal(shown) == Decimal(str(answered))


def _assert_fits(page: Any, label: str) -> None:
    measured = page.evaluate(OVERFLOW)
    assert measured["scrollWidth"] <= measured["width"], (label, measured)
    assert measured["wide"] == [], (label, measured)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_shows_the_api_figures(demo, live_server, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    console = ConsoleWatch(page)
    _sign_in(page, live_server.url, demo["ops"])
    for name, (path, metric, key) in PAGES.items():
        response = page.goto(f"{live_server.url}{path}?range=24h")
        assert response.status == 200, name
        assert page.locator("#empty-state").count() == 0, name
        _assert_fits(page, f"{name} at {width}")
        if metric is not None and key is not None:
            shown = page.get_attribute(f'#headline [data-metric="{metric}"]', "data-value")
            assert _same(shown, _api_summary(page, live_server.url)[key]), name
        if name == "alerts":  # its figures are counts of the alerts API's answer
            firing = page.request.get(f"{live_server.url}/api/v1/alerts?state=firing")
            assert firing.ok, firing.text()
            shown = page.get_attribute('#headline [data-metric="firing_alerts"]', "data-value")
            assert int(shown or -1) == len(firing.json()["rows"]) > 0
        screenshot(page, f"layout-{name}-{width}")
    failed = RoutingEvent.objects.exclude(status="ok").values_list("request_id", flat=True)
    request_id = failed.order_by("-timestamp").first()
    assert request_id is not None
    response = page.goto(f"{live_server.url}/dashboard/requests/{request_id}/")
    assert response.status == 200
    _assert_fits(page, f"request page at {width}")
    screenshot(page, f"layout-request-{width}")
    assert console.errors == []
    context.close()


def test_the_pages_name_what_they_draw(demo, live_server, browser):
    """Budget charts name their project (two budgets share a name), the latency charts are on
    a log axis, the partial last interval is marked, and each drift rule's status names its
    window."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    _sign_in(page, live_server.url, demo["ops"])
    page.goto(f"{live_server.url}/dashboard/cost/?range=24h")
    titles = page.locator("[data-budget-chart] svg > title").evaluate_all(
        "titles => titles.map(t => t.textContent)"
    )
    assert len(titles) >= 2 and len(set(titles)) == len(titles)
    budgets = page.locator("[data-budget-chart]").evaluate_all(
        "figures => figures.map(f => f.dataset.budgetChart)"
    )
    assert len(set(budgets)) < len(budgets)  # the demo's budgets share a name...
    projects = page.locator("#budgets tbody tr td:nth-child(2)").all_inner_texts()
    assert all(any(p in title for p in projects) for title in titles)  # ...the titles differ
    page.goto(f"{live_server.url}/dashboard/reliability/?range=24h")
    assert "log scale" in page.locator("svg.chart").first.text_content()
    assert page.locator("svg.chart g.partial").count() > 0
    page.goto(f"{live_server.url}/dashboard/routing/?range=24h")
    drift = page.locator("p.rule-drift [data-window]").first
    assert drift.get_attribute("data-window") == "1 h"

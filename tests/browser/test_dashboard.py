"""The dashboard in a real browser: ops and finance sign in, every page loads without console
errors and shows the metrics API's figures for the same window and filters, a filter changes
them, ops acknowledges an alert from the page, and another organization sees none of it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from analytics.models import Alert, AlertState
from tests.browser.conftest import screenshot
from tests.browser.tenant import PASSWORD, browser_tenant_create

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = {
    "overview": "/dashboard/",
    "reliability": "/dashboard/reliability/",
    "enforcement": "/dashboard/enforcement/",
    "routing": "/dashboard/routing/",
    "cost": "/dashboard/cost/",
    "alerts": "/dashboard/alerts/",
}


@pytest.fixture
def tenants(live_server):
    acme = browser_tenant_create("acme")
    globex = browser_tenant_create("globex")
    return acme, globex


def sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard/")


def figure(page: Any, metric: str, scope: str = "#headline") -> str:
    return page.get_attribute(f'{scope} [data-metric="{metric}"]', "data-value")


def api_summary(page: Any, base_url: str, **filters: str) -> dict[str, Any]:
    """The metrics API's answer for the window the page shows, through the page's session."""
    window = page.locator("#window")
    params = {"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")}
    answer = page.request.get(
        f"{base_url}/api/v1/metrics/summary?{urlencode({**params, **filters})}"
    )
    assert answer.ok, answer.text()
    return answer.json()


def csrf_token(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def same_rate(shown: str, answered: float | None) -> bool:
    if shown in ("", None):
        return answered is None
    return answered is not None and abs(float(shown) - answered) < 1e-9


@pytest.mark.parametrize("role", ["ops", "finance"])
def test_every_page_loads_without_console_errors(tenants, live_server, page, console, role):
    sign_in(page, live_server.url, f"acme-{role}")
    for name, path in PAGES.items():
        response = page.goto(f"{live_server.url}{path}?range=24h")
        assert response.status == 200, name
        assert page.locator("#empty-state").count() == 0, name
        assert page.locator("svg").count() >= (0 if name == "alerts" else 1), name
        screenshot(page, f"{role}-{name}")
    assert console.errors == []


def test_overview_shows_the_metrics_api_figures(tenants, live_server, page, console):
    sign_in(page, live_server.url, "acme-ops")
    page.goto(f"{live_server.url}/dashboard/?range=24h")
    summary = api_summary(page, live_server.url)
    assert int(figure(page, "requests")) == summary["requests"] == 420
    assert Decimal(figure(page, "cost_usd")) == Decimal(summary["cost_usd"]) > 0
    assert float(figure(page, "latency_p95_ms")) == summary["latency_ms"]["p95"]
    for rate in ("availability", "interception_rate", "violation_rate"):
        assert same_rate(figure(page, rate), summary[rate]), rate
    assert same_rate(figure(page, "roi"), summary["roi"])
    assert int(figure(page, "firing_alerts")) == 1
    assert console.errors == []


def test_cost_page_shows_the_metrics_api_figures_to_finance(tenants, live_server, page, console):
    sign_in(page, live_server.url, "acme-finance")
    page.goto(f"{live_server.url}/dashboard/cost/?range=24h")
    summary = api_summary(page, live_server.url)
    for money in ("cost_usd", "routing_savings_usd", "enforcement_cost_usd"):
        assert Decimal(figure(page, money)) == Decimal(summary[money]), money
    models = page.locator('table.spend[data-group="model"] tr[data-name]')
    assert sorted(models.evaluate_all("rows => rows.map(r => r.dataset.name)")) == [
        "claude-opus-4.6",
        "gpt-5.4",
    ]
    assert page.get_attribute("#csv-export", "href")
    assert console.errors == []


def test_a_filter_changes_the_figures(tenants, live_server, page, console):
    sign_in(page, live_server.url, "acme-ops")
    page.goto(f"{live_server.url}/dashboard/?range=24h")
    everything = int(figure(page, "requests"))
    page.select_option("#filters select[name=project]", "trading")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**project=trading**")
    trading = int(figure(page, "requests"))
    assert (everything, trading) == (420, 120)
    assert trading == api_summary(page, live_server.url, project="trading")["requests"]
    # The filter is kept in the URL and in the links to the other pages.
    assert "project=trading" in page.get_attribute('nav.pages a[data-page="cost"]', "href")
    assert console.errors == []


def test_ops_acknowledges_an_alert_from_the_page(tenants, live_server, page, console):
    alert = Alert.objects.get(organization__name="acme", state=AlertState.FIRING)
    sign_in(page, live_server.url, "acme-ops")
    page.goto(f"{live_server.url}/dashboard/alerts/")
    row = page.locator(f'tr[data-alert-id="{alert.pk}"]')
    assert row.locator("td[data-acknowledged]").get_attribute("data-acknowledged") == "no"
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    row = page.locator(f'tr[data-alert-id="{alert.pk}"]')
    assert row.locator("td[data-acknowledged]").get_attribute("data-acknowledged") == "yes"
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    screenshot(page, "ops-alerts-acknowledged")
    assert console.errors == []


def test_finance_sees_no_alert_actions(tenants, live_server, page):
    sign_in(page, live_server.url, "acme-finance")
    page.goto(f"{live_server.url}/dashboard/alerts/")
    assert page.locator("tr[data-alert-id]").count() == 1
    assert page.get_by_role("button", name="Acknowledge").count() == 0


def test_another_organization_sees_none_of_this_ones_data(tenants, live_server, page):
    acme_alert = Alert.objects.get(organization__name="acme")
    # globex has its own projects named alike; its figures are its own, and acme's alert is
    # not on its pages.
    globex_project = tenants[1].organization.projects.get(name="support")
    Alert.objects.filter(project=globex_project).delete()
    sign_in(page, live_server.url, "globex-ops")
    page.goto(f"{live_server.url}/dashboard/alerts/")
    assert page.locator(f'tr[data-alert-id="{acme_alert.pk}"]').count() == 0
    assert page.locator("tr[data-alert-id]").count() == 0
    answer = page.request.post(
        f"{live_server.url}/dashboard/alerts/{acme_alert.pk}/acknowledge",
        headers={"X-CSRFToken": csrf_token(page)},
    )
    assert answer.status in (403, 404)
    acme_alert.refresh_from_db()
    assert acme_alert.acknowledged_at is None

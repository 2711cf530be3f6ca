"""The alert page and the interceptions list in a real browser, at 1440 px and 390 px: reached
by clicking from the alerts and enforcement pages, the chart's threshold line drawn, nothing
wider than the viewport, no console error; another organization's user gets the 404 page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from analytics.alerts.evaluation import alerts_evaluate
from analytics.models import Alert, AlertEvaluation
from governance.models import Project
from tests.browser.conftest import ConsoleWatch, screenshot, signed_in, widest
from tests.browser.tenant import PASSWORD, browser_tenant_create
from tests.governance.factories import BudgetFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1440, 390)


@pytest.fixture
def tenants(live_server) -> dict[str, Alert]:
    """acme with its over-interception alert firing (judged three times) and an overrun
    budget; globex with its own users."""
    acme = browser_tenant_create("acme")
    support = Project.objects.get(organization=acme.organization, name="support")
    BudgetFactory.create(
        project=support, name="support daily", period="day", amount_usd=Decimal("0.01")
    )
    for minutes in (20, 10):
        alerts_evaluate(now=acme.now - timedelta(minutes=minutes))
    alerts_evaluate(now=acme.now)
    browser_tenant_create("globex")
    return {
        "rule": Alert.objects.get(organization=acme.organization, rule__isnull=False),
        "budget": Alert.objects.get(organization=acme.organization, budget__isnull=False),
    }


def fits(page: Any, width: int) -> None:
    assert widest(page) <= width, f"the page is {widest(page)} px wide at {width} px"
    assert int(page.evaluate("window.innerWidth")) == width


@pytest.mark.parametrize("width", WIDTHS)
def test_the_alert_page_from_the_alerts_table(browser, live_server, tenants, width):
    alert = tenants["rule"]
    page = signed_in(browser, live_server.url, "acme-ops", width, PASSWORD)
    console = ConsoleWatch(page)
    page.goto(f"{live_server.url}/dashboard/alerts/")
    page.click(
        f'#open-alerts tr[data-alert-id="{alert.pk}"] a[href="/dashboard/alerts/{alert.pk}/"]'
    )
    page.wait_for_url(f"{live_server.url}/dashboard/alerts/{alert.pk}/")
    threshold = page.locator("#alert-chart svg g.threshold line")
    assert threshold.count() == 1
    judged = AlertEvaluation.objects.filter(rule=alert.rule, scope=alert.scope)
    assert page.locator("#alert-chart svg g.series circle").count() == judged.count() >= 3
    assert page.locator("#alert-transitions tbody tr").count() >= 1
    assert page.locator("#alert-deliveries tbody tr").count() >= 1
    fits(page, width)
    screenshot(page, f"alert-{width}")

    page.click("#acknowledge-form button")
    page.wait_for_url(f"{live_server.url}/dashboard/alerts/{alert.pk}/")
    assert page.locator('[data-acknowledged="yes"]').count() == 1
    assert console.errors == []
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_budget_alert_page(browser, live_server, tenants, width):
    alert = tenants["budget"]
    page = signed_in(browser, live_server.url, "acme-finance", width, PASSWORD)
    console = ConsoleWatch(page)
    page.goto(f"{live_server.url}/dashboard/alerts/{alert.pk}/")
    assert page.locator("#alert-chart svg g.threshold line").count() == 3  # 50%, 80%, amount
    fits(page, width)
    assert console.errors == []
    screenshot(page, f"alert-budget-{width}")
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_interceptions_from_the_enforcement_page(browser, live_server, tenants, width):
    page = signed_in(browser, live_server.url, "acme-ops", width, PASSWORD)
    console = ConsoleWatch(page)
    page.goto(f"{live_server.url}/dashboard/enforcement/")
    page.click('#layers tr[data-layer="preprocess"] a')
    page.wait_for_url("**/dashboard/enforcement/interceptions/**layer=preprocess")
    rows = page.locator("#interceptions tbody tr")
    assert rows.count() == 15  # support's blocked requests; trading blocked none
    times = [
        row.get_attribute("title") for row in page.locator("#interceptions td.nowrap[title]").all()
    ]
    assert times == sorted(times, reverse=True)
    fits(page, width)
    screenshot(page, f"interceptions-{width}")
    first = rows.first.get_attribute("data-request-id")
    rows.first.locator("a").click()
    page.wait_for_url(f"**/dashboard/requests/{first}/?project=support")
    assert page.locator("#request-timeline").count() == 1
    assert console.errors == []
    page.context.close()


def test_another_organization_gets_404(browser, live_server, tenants):
    page = signed_in(browser, live_server.url, "globex-ops", 390, PASSWORD)
    response = page.goto(f"{live_server.url}/dashboard/alerts/{tenants['rule'].pk}/")
    assert response.status == 404
    assert page.locator("#not-found").is_visible()
    assert page.locator("#alert-chart").count() == 0
    page.context.close()

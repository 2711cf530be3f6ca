"""The overview's health per project in a real browser, at 1440 px and 390 px: the grid is
on screen, the project in an outage is flagged (in words too), the figures are the summary
API's for that project, nothing is wider than the viewport and the console stays clean."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.browser.conftest import ConsoleWatch, screenshot, signed_in
from tests.dashboard.health_tenant import organization_with_outage
from tests.governance.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1440, 390)
PASSWORD = "health-grid-password-1"


@pytest.fixture
def acme(live_server) -> None:
    tenant = organization_with_outage("acme", projects=("checkout", "search", "support"))
    UserFactory.create(
        organization=tenant.organization, username="acme-ops", role="ops", password=PASSWORD
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_outage_project_is_flagged_and_the_grid_fits(browser, live_server, acme, width):
    page = signed_in(browser, live_server.url, "acme-ops", width, PASSWORD)
    console = ConsoleWatch(page)
    page.goto(f"{live_server.url}/dashboard/?range=24h")
    grid = page.locator("#health-grid")
    assert grid.is_visible()
    checkout = page.locator('#health-grid tr[data-project="checkout"]')
    assert checkout.get_attribute("data-flagged") == "true"
    error_rate = checkout.locator('td[data-metric="error_rate"]')
    assert error_rate.get_attribute("data-grade") == "bad"
    assert "over limit" in error_rate.inner_text()
    assert checkout.locator('td[data-metric="availability"]').get_attribute("data-grade") == "bad"
    assert page.locator('#health-grid tr[data-flagged="true"]').count() == 1
    # The same figures as the summary API for the project, over the page's window.
    window = page.locator("#window")
    params = {"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")}
    answer = page.request.get(
        f"{live_server.url}/api/v1/metrics/summary?{urlencode({**params, 'project': 'checkout'})}"
    ).json()
    shown = checkout.locator('td[data-metric="availability"]').get_attribute("data-value")
    assert float(shown) == answer["availability"]
    widest = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert widest <= inner, f"the page is {widest} px wide in a {inner} px viewport"
    screenshot(page, f"overview-health-{width}")
    # One click from the grid to the project's own pages.
    checkout.locator("th a").click()
    page.wait_for_url("**/dashboard/reliability/?range=24h&project=checkout")
    assert console.errors == []
    page.context.close()

"""The admin as an organization admin sees it in a real browser, at 1440 px and 390 px: the
Analytics and user sections on the index, the price list naming each price's project with
money as money, no console error, and no page wider than the viewport."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ConsoleWatch, screenshot, widest
from tests.browser.tenant import PASSWORD
from tests.governance.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1440, 390)


@pytest.fixture
def acme(live_server) -> None:
    project = ProjectFactory.create(organization__name="acme", name="support", matrix=True)
    ProjectFactory.create(organization=project.organization, name="billing", matrix=True)
    UserFactory.create(
        organization=project.organization, username="acme-admin", role="admin", password=PASSWORD
    )


def admin_page(browser: Any, base_url: str, width: int) -> Any:
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "acme-admin")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_the_organization_admin_finds_analytics_and_prices_by_project(
    browser, live_server, acme, width
):
    page = admin_page(browser, live_server.url, width)
    console = ConsoleWatch(page)
    page.reload()
    assert page.locator("#content-main .app-analytics").count() == 1
    assert page.locator('#content-main a[href="/admin/auth/user/"]').count() >= 1
    assert widest(page) <= width, f"the index is {widest(page)} px wide at {width} px"
    screenshot(page, f"admin-index-{width}")

    page.goto(f"{live_server.url}/admin/governance/modelprice/")
    projects = page.locator("#result_list td.field-project").all_inner_texts()
    assert {"acme/support", "acme/billing"} <= set(projects)
    prices = page.locator("#result_list td.field-input_per_1k").all_inner_texts()
    assert prices and all(price.startswith("$") and not price.endswith("0000") for price in prices)
    assert widest(page) <= width, f"the price list is {widest(page)} px wide at {width} px"
    assert console.errors == []
    screenshot(page, f"admin-prices-{width}")
    page.context.close()

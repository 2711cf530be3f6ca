"""The request page in a real browser, at 1440 px and 390 px: found from the header's search
box, its attempts and late check shown, nothing wider than the viewport, no console error;
another organization's user gets the 404 page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from tests.analytics.test_request_api import REQUEST_ID, fallback_request
from tests.browser.conftest import ConsoleWatch, screenshot, signed_in, widest
from tests.browser.tenant import PASSWORD
from tests.governance.factories import (
    ApiKeyFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1440, 390)


@pytest.fixture
def acme(live_server) -> None:
    """acme/support with one request that failed over, its output check sent later; an
    acme user and a globex one."""
    project = ProjectFactory.create(organization__name="acme", name="support", matrix=True)
    key = ApiKeyFactory.create(service=ServiceFactory.create(project=project, name="router"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    for batch in fallback_request(datetime.now(UTC) - timedelta(minutes=5)):
        response = client.post("/api/v1/ingest", {"batch": batch}, format="json")
        assert response.json()["accepted"] == len(batch)
    UserFactory.create(
        organization=project.organization, username="acme-ops", role="ops", password=PASSWORD
    )
    UserFactory.create(
        organization=OrganizationFactory.create(name="globex"),
        username="globex-ops",
        role="ops",
        password=PASSWORD,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_found_from_the_search_box_and_fits(browser, live_server, acme, width):
    page = signed_in(browser, live_server.url, "acme-ops", width, PASSWORD)
    console = ConsoleWatch(page)
    page.fill("#request-search", f"  {REQUEST_ID}  ")
    page.press("#request-search", "Enter")
    page.wait_for_url(f"{live_server.url}/dashboard/requests/{REQUEST_ID}/")
    rows = page.locator("#request-timeline tbody tr")
    assert rows.count() == 4
    assert page.locator('#request-timeline tr[data-kind="attempt"]').count() == 2
    late = page.locator('#request-timeline tr[data-after-attempt="true"]')
    assert late.count() == 1
    assert "after the attempt" in late.inner_text()
    assert widest(page) <= width, f"the page is {widest(page)} px wide at {width} px"
    assert console.errors == []
    screenshot(page, f"request-{width}")
    page.context.close()


def test_another_organization_gets_404(browser, live_server, acme):
    page = signed_in(browser, live_server.url, "globex-ops", 390, PASSWORD)
    response = page.goto(f"{live_server.url}/dashboard/requests/{REQUEST_ID}/")
    assert response.status == 404
    assert page.locator("#not-found").is_visible()
    assert page.locator("#request-timeline").count() == 0
    page.context.close()

"""The enforcement page's policy table in a real browser, at 1440 px and 390 px: the demo's
over-intercepting policy named first, its figures the API's, its link to the policy's
intercepted requests, the table scrolling inside its card instead of widening the page, and no
console error."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from governance.models import Organization
from tests.browser.conftest import ConsoleWatch, screenshot, signed_in
from tests.browser.tenant import PASSWORD
from tests.dashboard.test_enforcement_policies import demo_content_platform_posted, rogue_policy
from tests.governance.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_content_platform(live_server) -> Organization:
    return demo_content_platform_posted()


WIDTHS = (1440, 390)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_policy_table_names_the_over_intercepting_policy_and_fits(
    browser, live_server, demo_content_platform, width
):
    UserFactory.create(
        organization=demo_content_platform, username="policy-ops", role="ops", password=PASSWORD
    )
    page = signed_in(browser, live_server.url, "policy-ops", width, PASSWORD)
    console = ConsoleWatch(page)
    assert page.goto(f"{live_server.url}/dashboard/enforcement/?range=1h").status == 200
    rogue = rogue_policy()
    first = page.locator("#policies tbody tr").first
    assert first.get_attribute("data-policy") == rogue
    link = first.locator("a")
    assert link.inner_text() == rogue
    assert link.get_attribute("href") == (
        f"/dashboard/enforcement/interceptions/?{urlencode({'range': '1h', 'policy': rogue})}"
    )

    window = page.locator("#window")
    params = {"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")}
    answer = page.request.get(f"{live_server.url}/api/v1/metrics/policies?{urlencode(params)}")
    assert answer.ok, answer.text()
    top = answer.json()["rows"][0]
    assert top["policy"] == rogue
    shown = first.locator('[data-metric="interception_rate"]').get_attribute("data-value")
    assert float(shown) == top["interception_rate"]

    # The tables scroll inside their cards: no card is wider than the viewport. (The charts'
    # own phone layout is checked by the dashboard's browser tests.)
    for table in ("#policies", "#layers"):
        card = page.locator(table).locator("xpath=..")
        assert card.get_attribute("class") == "table-scroll"
        box = card.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, table
    screenshot(page, f"enforcement-policies-{width}")

    # Two clicks from the overview's figures: the policy's name lists what it blocked.
    link.click()
    page.wait_for_url("**/dashboard/enforcement/interceptions/**")
    listed = page.locator("#interceptions tbody tr")
    assert listed.count() > 0
    assert {row.get_attribute("data-policy") for row in listed.all()} == {rogue}
    assert console.errors == []
    page.context.close()

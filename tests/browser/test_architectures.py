"""The architectures page in a real browser over the demo's three hours, as ops and as
finance at 1440 px and 390 px: no console error, nothing wider than the viewport outside a
card that scrolls, the table's figures and positions are `/api/v1/compare`'s, the charts are
drawn with the article's reference, and each project's advice shows; another organization's
member sees none of it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import ConsoleWatch, screenshot, signed_in
from tests.browser.test_layout import OVERFLOW, demo  # noqa: F401 (the demo fixture)
from tests.governance.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/dashboard/architectures/"
# data-metric in the table -> where the compare API's row holds it.
COMPARED = {
    "requests": ("traffic", "requests"),
    "latency_p95_ms": ("latency", "latency_ms", "p95"),
    "cost_per_1k_requests_usd": ("cost", "cost_per_1k_requests_usd"),
    "violation_rate": ("security", "violation_rate"),
    "availability": ("reliability", "availability"),
}


def _compare(page: Any, base_url: str) -> dict[str, dict[str, Any]]:
    window = page.locator("#window")
    params = {"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")}
    answer = page.request.get(f"{base_url}/api/v1/compare?{urlencode(params)}")
    assert answer.ok, answer.text()
    return {row["mode"]: row for row in answer.json()["modes"]}


def _at(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        row = row[key]
    return row


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("role", ["ops", "finance"])
def test_the_page_fits_and_shows_the_compare_apis_figures(demo, live_server, browser, role, width):  # noqa: F811
    page = signed_in(browser, live_server.url, role, width, demo[role])
    console = ConsoleWatch(page)
    response = page.goto(f"{live_server.url}{PAGE}?range=24h")
    assert response.status == 200
    assert page.locator("#empty-state").count() == 0
    measured = page.evaluate(OVERFLOW)
    assert measured["scrollWidth"] <= measured["width"] and measured["wide"] == [], measured

    answered = _compare(page, live_server.url)
    columns = page.locator("#comparison thead th[data-mode]").evaluate_all(
        "cells => cells.map(c => c.dataset.mode)"
    )
    assert columns == list(answered) and len(columns) >= 3
    for mode, row in answered.items():
        for metric, path in COMPARED.items():
            cell = page.locator(f'#comparison td[data-mode="{mode}"] [data-metric="{metric}"]')
            shown, expected = cell.get_attribute("data-value"), _at(row, path)
            if expected is None:
                assert shown == "", (mode, metric)
            else:
                assert Decimal(shown) == Decimal(str(expected)), (mode, metric)
        for figure, place in row["position"].items():
            if place["position"] is None:
                continue
            cell = page.locator(f'#comparison td[data-mode="{mode}"] [data-metric="{figure}"]')
            assert cell.get_attribute("data-position") == place["position"], (mode, figure)
    # Each reference reads beside its figure, and a position is in words, not colour alone.
    hybrid_p95 = page.locator('#comparison td[data-mode="hybrid"]').filter(
        has=page.locator('[data-metric="latency_p95_ms"]')
    )
    assert "ref 290 ms" in hybrid_p95.inner_text()
    assert any(word in hybrid_p95.inner_text() for word in ("within", "above", "below"))

    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart g.reference").count() >= 2 * 3  # latency and violations
    cards = page.locator("#advice article.advice")
    assert cards.count() >= 3
    assert page.locator('#advice [data-advice="recommended_mode"]').count() >= 1
    assert page.locator("#advice [data-finding]").count() >= 1
    assert page.locator('#advice [data-finding="mode_mismatch"]').count() >= 1  # research
    screenshot(page, f"architectures-{role}-{width}")
    assert console.errors == []
    page.context.close()


def test_another_organization_sees_none_of_it(demo, live_server, browser):  # noqa: F811
    rival = OrganizationFactory.create(name="rival-org")
    UserFactory.create(organization=rival, username="rival", role="ops", password="rival-pw-12345")
    page = signed_in(browser, live_server.url, "rival", 1440, "rival-pw-12345")
    console = ConsoleWatch(page)
    page.goto(f"{live_server.url}{PAGE}?range=24h")
    assert page.locator("#empty-state").count() == 1
    assert page.locator("#comparison").count() == 0
    assert page.locator("#advice article.advice").count() == 0
    assert _compare(page, live_server.url) == {}
    refused = page.goto(f"{live_server.url}{PAGE}?project=customer-service")
    assert refused.status == 400
    assert console.errors == [] or all("400" in error for error in console.errors)
    page.context.close()

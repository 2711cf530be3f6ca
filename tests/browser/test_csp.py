"""The Content-Security-Policy in a real browser: every page (dashboard pages over each range
and filter, the alert pages, sign-in, the admin, the API docs) loads without a single CSP
violation and still works (styles applied, charts drawn, scripts run), while script and style
that carry no nonce are refused."""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import MatrixModel, Project
from governance.services import user_create
from tests.browser.conftest import screenshot
from tests.browser.tenant import PASSWORD, browser_tenant_create
from tests.browser.test_dashboard import PAGES, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Registered before any of the page's own code runs, so nothing the parser meets is missed.
VIOLATION_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} `
    + `(${event.sourceFile}:${event.lineNumber}) ${event.sample}`
  );
});
"""
HEADER_BACKGROUND = "rgb(20, 32, 44)"  # header.top in base.html's nonce'd stylesheet


class CspWatch:
    """The violations a page reported: its `securitypolicyviolation` events and the browser's
    console lines about the policy (which also outlive a navigation)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(VIOLATION_LISTENER)
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        """Everything reported so far, this document's events included."""
        return [*self.console, *self.page.evaluate("window.__cspViolations || []")]


@pytest.fixture
def csp(page) -> CspWatch:
    return CspWatch(page)


@pytest.fixture
def acme(live_server):
    tenant = browser_tenant_create("acme")
    user_create(
        organization=tenant.organization, username="acme-admin", role="admin", password=PASSWORD
    )
    return tenant


def visit(page: Any, csp: CspWatch, url: str, *, status: int = 200) -> None:
    response = page.goto(url)
    assert response.status == status, url
    assert response.headers["content-security-policy"], url
    page.wait_for_load_state("load")
    assert csp.violations() == [], url


def styled(page: Any) -> str:
    return page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")


def assert_charts_drawn(page: Any, name: str) -> None:
    charts = page.locator("svg.chart")
    assert charts.count() >= 1, name
    box = charts.first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, name
    # Lines, points or bars: the data itself, not just axes.
    marks = page.locator("svg.chart g.series path, svg.chart circle, svg.chart rect[fill^='#']")
    assert marks.count() > 0, name
    # The chart figures lost their style attribute for a class: still flush in their grid.
    assert page.evaluate("getComputedStyle(document.querySelector('figure.panel')).margin") == "0px"


def assert_filter_script_runs(page: Any, name: str) -> None:
    """_filters.html's nonce'd script: typing a date switches the range to custom."""
    assert page.input_value("#range") != "custom", name
    page.fill("#from", "2026-01-01T00:00")
    page.dispatch_event("#from", "change")
    assert page.input_value("#range") == "custom", name


def test_a_script_without_the_nonce_is_refused_and_reported(acme, live_server, page, csp):
    sign_in(page, live_server.url, "acme-ops")
    page.goto(f"{live_server.url}/dashboard/?range=24h")
    assert csp.violations() == []
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true;";
        document.body.append(script);
        const style = document.createElement("style");
        style.textContent = "body { background: rgb(255, 0, 0); }";
        document.head.append(style);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 2")
    assert page.evaluate("window.injected === undefined")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    reported = " ".join(csp.violations())
    assert "script-src-elem" in reported and "style-src-elem" in reported


def test_sign_in_page_has_no_violation_and_signs_in(acme, live_server, page, csp):
    visit(page, csp, f"{live_server.url}/accounts/login/")
    assert styled(page) == HEADER_BACKGROUND
    assert page.evaluate("getComputedStyle(document.querySelector('.login')).maxWidth") == "360px"
    sign_in(page, live_server.url, "acme-ops")
    assert page.locator("#signed-in-as").inner_text().startswith("acme-ops")
    assert csp.violations() == []


def test_admin_sign_in_page_has_no_violation(live_server, page, csp):
    visit(page, csp, f"{live_server.url}/admin/login/")
    assert page.locator("#login-form").is_visible()
    # The admin's own stylesheet applied: the login form sits in a narrow centred box.
    assert page.evaluate("getComputedStyle(document.querySelector('.login #container')).width") != (
        page.evaluate("getComputedStyle(document.body).width")
    )


def test_every_dashboard_page_range_and_filter_has_no_violation(acme, live_server, page, csp):
    sign_in(page, live_server.url, "acme-ops")
    queries = [
        "range=1h",
        "range=24h",
        "range=7d",
        "range=30d",
        "range=custom&from=2026-01-01T00:00&to=2026-01-02T00:00",  # empty window
        "range=24h&project=trading",
        "range=24h&model=gpt-5.4&mode=hybrid&environment=production",
    ]
    for name, path in PAGES.items():
        for query in queries:
            visit(page, csp, f"{live_server.url}{path}?{query}")
            assert styled(page) == HEADER_BACKGROUND, (name, query)
            if name != "alerts" and "2026-01-01" not in query:
                assert_charts_drawn(page, name)
        assert_filter_script_runs(page, name)
        screenshot(page, f"csp-{name}")
    # The pages that explain a refusal or an absence use the same nonce'd base.
    visit(page, csp, f"{live_server.url}/dashboard/?range=fortnight", status=400)
    assert page.locator("#bad-selection").is_visible()
    visit(page, csp, f"{live_server.url}/dashboard/alerts/?alert=first", status=400)
    assert styled(page) == HEADER_BACKGROUND


def test_alert_pages_and_their_actions_have_no_violation(acme, live_server, page, csp):
    sign_in(page, live_server.url, "acme-ops")
    visit(page, csp, f"{live_server.url}/dashboard/alerts/")
    row = page.locator("tr[data-alert-id]").first
    alert_id = row.get_attribute("data-alert-id")
    row.get_by_role("button", name="Acknowledge").click()  # a form post: form-action 'self'
    page.wait_for_load_state()
    row = page.locator(f'tr[data-alert-id="{alert_id}"]')
    assert row.locator("td[data-acknowledged]").get_attribute("data-acknowledged") == "yes"
    assert csp.violations() == []
    visit(page, csp, f"{live_server.url}/dashboard/alerts/?alert={alert_id}")  # highlighted
    assert page.locator(f'tr.highlight[data-alert-id="{alert_id}"]').count() == 1
    screenshot(page, "csp-alerts")
    # The alert's own page (its stylesheet applied) and the interceptions list.
    visit(page, csp, f"{live_server.url}/dashboard/alerts/{alert_id}/")
    assert page.locator("#alert-chart svg g.threshold").count() >= 1
    assert page.evaluate("getComputedStyle(document.querySelector('#alert-rule')).minWidth") == (
        "0px"
    )
    visit(page, csp, f"{live_server.url}/dashboard/enforcement/interceptions/?layer=preprocess")
    assert page.locator("#interceptions tbody tr").count() > 0
    assert csp.violations() == []


def test_admin_pages_have_no_violation_and_their_scripts_work(acme, live_server, page, csp):
    project = Project.objects.get(organization=acme.organization, name="support")
    matrix_model = MatrixModel.objects.filter(project=project).first()
    assert matrix_model is not None
    sign_in(page, live_server.url, "acme-admin")
    base = f"{live_server.url}/admin"
    visit(page, csp, f"{base}/")
    assert page.locator("#content-main .app-governance").count() == 1

    # A changelist: actions.js ticks every row with the header box and counts them.
    visit(page, csp, f"{base}/governance/project/")
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() == 2
    assert "2 of 2 selected" in page.locator(".action-counter").inner_text()
    visit(page, csp, f"{base}/governance/modelprice/?model__project__id__exact={project.pk}")
    visit(page, csp, f"{base}/governance/matrixmodel/?is_active__exact=1&q=gpt")

    # A change form with an inline: inlines.js adds a row, DateTimeShortcuts fills it.
    visit(page, csp, f"{base}/governance/matrixmodel/{matrix_model.pk}/change/")
    rows = page.locator("tr.form-row:not(.empty-form)")
    before = rows.count()
    page.locator(".add-row a").click()
    assert rows.count() == before + 1
    assert rows.last.locator(".vTimeField").input_value() == ""
    rows.last.get_by_role("link", name="Now").first.click()
    assert rows.last.locator(".vTimeField").input_value()
    assert csp.violations() == []

    # A saved edit gives the project a history with its (hash-allowed) paginator style.
    visit(page, csp, f"{base}/governance/project/{project.pk}/change/")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    visit(page, csp, f"{base}/governance/project/{project.pk}/history/")
    assert page.locator("#change-history tbody tr").count() >= 1
    assert (
        page.evaluate("getComputedStyle(document.querySelector('p.paginator')).borderTopStyle")
        == "none"
    )
    visit(page, csp, f"{base}/governance/apikey/add/")
    screenshot(page, "csp-admin-apikey-add")


def test_api_docs_render_without_violation(acme, live_server, page, csp):
    sign_in(page, live_server.url, "acme-ops")
    visit(page, csp, f"{live_server.url}/api/docs/")
    # Swagger UI is drawn by the nonce'd inline script from the schema it fetched.
    schema = page.request.get(f"{live_server.url}/api/schema/?format=json").json()
    operations = sum(len(item) for item in schema["paths"].values())
    page.wait_for_function(
        f"document.querySelectorAll('.swagger-ui .opblock').length === {operations}"
    )
    assert "Tollgate API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".swagger-ui .opblock").first.click()  # expands: React still runs
    page.wait_for_selector(".swagger-ui .opblock.is-open")
    assert csp.violations() == []
    screenshot(page, "csp-api-docs")

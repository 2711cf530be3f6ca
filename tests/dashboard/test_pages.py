"""Every page with traffic and without: the figures on the page are the metrics API's for the
same window and filters, filters change them, another organization's data never shows, the
query count stays small, and finance gets its CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from analytics.dashboard.filters import selection_from
from analytics.dashboard.pages.cost import spend_csv
from analytics.metrics.breakdowns import metrics_spend
from analytics.metrics.drift import metrics_drift, metrics_drift_timeseries
from analytics.metrics.results import SpendRow
from analytics.models import Repricing
from tests.dashboard.conftest import as_number, headline, page_window, rows
from tests.governance.factories import BudgetFactory, ProjectFactory, UserFactory

PAGES = {
    "overview": "/dashboard/",
    "reliability": "/dashboard/reliability/",
    "enforcement": "/dashboard/enforcement/",
    "routing": "/dashboard/routing/",
    "cost": "/dashboard/cost/",
    "alerts": "/dashboard/alerts/",
}
# Headline figure -> where the metrics API's summary holds it.
SUMMARY_PATHS = {
    "requests": ("requests",),
    "attempts": ("attempts",),
    "availability": ("availability",),
    "error_rate": ("error_rate",),
    "latency_p50_ms": ("latency_ms", "p50"),
    "latency_p95_ms": ("latency_ms", "p95"),
    "latency_p99_ms": ("latency_ms", "p99"),
    "latency_mean_ms": ("latency_ms", "mean"),
    "routing_latency_p50_ms": ("routing_latency_ms", "p50"),
    "routing_latency_p95_ms": ("routing_latency_ms", "p95"),
    "overhead_p50_ms": ("overhead_ms", "p50"),
    "overhead_p95_ms": ("overhead_ms", "p95"),
    "overhead_p99_ms": ("overhead_ms", "p99"),
    "cost_usd": ("cost_usd",),
    "cost_per_1k_requests_usd": ("cost_per_1k_requests_usd",),
    "unpriced_attempts": ("unpriced_attempts",),
    "input_tokens": ("tokens", "input"),
    "output_tokens": ("tokens", "output"),
    "interception_rate": ("interception_rate",),
    "block_rate": ("block_rate",),
    "modify_rate": ("modify_rate",),
    "violation_rate": ("violation_rate",),
    "detected_violation_rate": ("detected_violation_rate",),
    "catch_rate": ("catch_rate",),
    "false_positive_rate": ("false_positive_rate",),
    "enforcement_cost_usd": ("enforcement_cost_usd",),
    "baseline_cost_usd": ("baseline_cost_usd",),
    "routing_savings_usd": ("routing_savings_usd",),
    "error_cost_savings_usd": ("error_cost_savings_usd",),
    "roi": ("roi",),
    "savings_multiple": ("savings_multiple",),
}
MONEY = {name for name in SUMMARY_PATHS if name.endswith("_usd")}


def dig(summary: dict, path: tuple[str, ...]):
    for key in path:
        summary = summary[key]
    return summary


def assert_same(metric: str, shown: str, expected) -> None:
    """A page's data-value is the API's value: money as the same decimal string."""
    if metric in MONEY:
        assert shown == ("" if expected is None else expected), metric
    else:
        assert as_number(shown) == expected, metric


def api_summary(client: Client, window: dict[str, str], **filters: str) -> dict:
    response = client.get("/api/v1/metrics/summary", {**window, **filters})
    assert response.status_code == 200, response.content
    return response.json()


# --- With traffic -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestWithTraffic:
    @pytest.mark.parametrize("role", ["ops", "finance"])
    def test_every_page_renders_for_every_role(self, traffic, member, role):
        client = member(role)
        for name, url in PAGES.items():
            response = client.get(url)
            assert response.status_code == 200, name
            page = response.content.decode()
            assert 'id="empty-state"' not in page, name
            assert 'id="window"' in page and 'data-page="cost"' in page, name
            assert "rival-only-model" not in page and "secret-svc" not in page, name

    def test_every_page_says_while_a_repricing_moves_the_money(self, traffic, member, project):
        client = member("finance")
        assert 'id="repricing"' not in client.get(PAGES["cost"]).content.decode()
        Repricing.objects.create(project=project, reason="price added: gpt-5.4 from 2026-11-01")
        for name, url in PAGES.items():
            page = client.get(url).content.decode()
            assert 'id="repricing"' in page, name
            assert "Repricing support (price added: gpt-5.4 from 2026-11-01): 0% done" in page

    @pytest.mark.parametrize("page", ["overview", "reliability", "enforcement", "routing", "cost"])
    @pytest.mark.parametrize("filters", [{}, {"project": "support", "model": "gpt-5.4"}])
    def test_headline_figures_are_the_apis(self, traffic, member, page, filters):
        client = member("ops")
        html = client.get(PAGES[page], {"range": "24h", **filters}).content.decode()
        window = page_window(html)
        summary = api_summary(client, window, **filters)
        shown = {m: item for m, item in headline(html).items() if m in SUMMARY_PATHS}
        assert len(shown) >= 3
        for metric, item in shown.items():
            assert_same(metric, item["data-value"], dig(summary, SUMMARY_PATHS[metric]))

    def test_overview_compares_with_the_previous_window(self, traffic, member):
        client = member("finance")
        html = client.get(PAGES["overview"], {"range": "1h"}).content.decode()
        window = page_window(html)
        start = datetime.fromisoformat(window["from"])
        previous = {"from": (start - timedelta(hours=1)).isoformat(), "to": window["from"]}
        before = api_summary(client, previous)
        figures = headline(html)
        for metric in ("requests", "availability", "latency_p95_ms", "cost_usd", "roi"):
            assert "data-previous" in figures[metric], metric
            assert_same(
                metric, figures[metric]["data-previous"], dig(before, SUMMARY_PATHS[metric])
            )
        assert figures["requests"]["data-value"] == "36"
        assert "+36 (none before)" in html

    def test_model_and_layer_tables_are_the_apis(self, traffic, member):
        client = member("ops")
        html = client.get(PAGES["reliability"]).content.decode()
        window = page_window(html)
        api_models = client.get("/api/v1/metrics/models", window).json()["rows"]
        table = rows(html, "data-model")
        assert set(table) == {row["model"] for row in api_models}
        for row in api_models:
            shown = table[row["model"]]
            assert as_number(shown["attempts"]) == row["attempts"]
            assert as_number(shown["share"]) == row["share"]
            assert as_number(shown["latency_p95_ms"]) == row["latency_ms"]["p95"]
            assert as_number(shown["error_rate"]) == row["error_rate"]
            assert shown["cost_usd"] == row["cost_usd"]
        fallbacks = client.get(
            "/api/v1/metrics/timeseries", {**window, "metric": "fallbacks", "interval": "hour"}
        ).json()["rows"]
        assert headline(html)["fallbacks"]["data-value"] == str(
            sum(point["value"] for point in fallbacks)
        )
        assert headline(html)["fallbacks"]["data-value"] == "2"

        html = client.get(PAGES["enforcement"]).content.decode()
        api_layers = client.get("/api/v1/metrics/layers", page_window(html)).json()["rows"]
        table = rows(html, "data-layer")
        for row in api_layers:
            shown = table[row["layer"]]
            assert as_number(shown["checks"]) == row["checks"]
            assert as_number(shown["blocks"]) == row["blocks"]
            assert as_number(shown["modifies"]) == row["modifies"]
            assert as_number(shown["interception_rate"]) == row["interception_rate"]
        assert table["preprocess"]["blocks"] == "4"
        # Two projects in view: each is judged by its own rule, none is drawn on their mix.
        assert headline(html)["over_interception_threshold"]["data-value"] == ""
        assert "Over-interception threshold (default)" not in html
        one = client.get(PAGES["enforcement"], {"project": "support"}).content.decode()
        assert headline(one)["over_interception_threshold"]["data-value"] == "0.01"
        assert "Over-interception threshold (default): 1.00%" in one  # drawn on the chart

    def test_routing_drift_is_the_apis(self, traffic, member):
        client = member("ops")
        html = client.get(PAGES["routing"]).content.decode()
        drift = client.get("/api/v1/drift", page_window(html)).json()["rows"]
        shown = rows(html, "data-project")
        assert set(shown) == {"support", "search"}
        for row in drift:
            assert as_number(shown[row["project"]]["psi"]) == row["psi"]
            assert as_number(shown[row["project"]]["conformance"]) == row["conformance"]
        assert 'data-model="mystery-model"' in html.split('id="unpriced-models"')[1]
        assert "PSI of the model mix per project" in html

    def test_drift_over_time_agrees_with_the_windows_drift(self, traffic, member, organization):
        # All traffic sits in one day: that day's point is the whole window's drift.
        query = selection_from(
            {"range": "24h"}, organization_id=organization.pk, now=datetime.now(UTC)
        ).query
        points = metrics_drift_timeseries(query, interval="day")
        by_project = {row.project: row for row in metrics_drift(query)}
        assert {point.project for point in points} == {"support", "search"}
        for point in points:
            whole = by_project[point.project]
            assert point.psi == whole.psi and point.status == whole.status
            assert point.conformance == whole.conformance
            assert point.nonfallback_attempts == whole.nonfallback_attempts

    def test_cost_tables_budgets_and_csv_are_the_selectors(
        self, traffic, member, organization, project
    ):
        BudgetFactory.create(project=project, name="support monthly", amount_usd=Decimal("1.00"))
        client = member("finance")
        html = client.get(PAGES["cost"], {"range": "24h"}).content.decode()
        window = page_window(html)
        query = selection_from(
            {"range": "custom", **window}, organization_id=organization.pk, now=datetime.now(UTC)
        ).query
        for by in ("model", "service", "project"):
            table = html.split(f'data-group="{by}"')[1].split("</table>")[0]
            for row in metrics_spend(query, by=by):
                cell = re.search(
                    rf'<tr data-name="{re.escape(row.name)}">.*?data-metric="cost_usd" '
                    r'data-value="([^"]+)"',
                    table,
                    re.S,
                )
                assert cell and cell.group(1) == str(row.cost_usd), (by, row)
        assert "ROI" in html and "Savings multiple" in html

        (budget,) = client.get("/api/v1/budgets").json()["rows"]
        shown = rows(html, "data-budget")["support monthly"]
        assert shown["spent_usd"] == budget["spent_usd"]
        assert shown["amount_usd"] == budget["amount_usd"] == "1.000000"
        assert 'data-budget-chart="support monthly"' in html
        assert "Forecast" in html and "Budget amount: $1.00" in html

        export = client.get("/dashboard/cost.csv", {"range": "24h"})
        assert export.status_code == 200
        assert export["Content-Type"] == "text/csv; charset=utf-8"
        assert export["Content-Disposition"].startswith('attachment; filename="tollgate-spend-')
        lines = list(csv.DictReader(io.StringIO(export.content.decode())))
        models = {line["name"]: line for line in lines if line["group"] == "model"}
        assert models["gpt-5.4"]["cost_usd"] == str(metrics_spend(query, by="model")[0].cost_usd)
        assert models["mystery-model"]["unpriced_attempts"] == "3"
        services = {line["name"]: line for line in lines if line["group"] == "service"}
        projects = {line["name"]: line for line in lines if line["group"] == "project"}
        assert set(services) == {"router", "indexer"}
        # One service per project here, so each service's row is its project's.
        for service, project_name in (("router", "support"), ("indexer", "search")):
            for column in ("cost_usd", "requests", "attempts", "unpriced_attempts"):
                assert services[service][column] == projects[project_name][column]
        # One URL serves the CSV: the page's old `?format=csv` link goes there.
        moved = client.get(PAGES["cost"], {"range": "24h", "format": "csv"})
        assert moved.status_code == 302
        assert moved["Location"] == "/dashboard/cost.csv?range=24h"

    @pytest.mark.parametrize(
        ("filters", "requests"),
        [
            ({}, "36"),
            ({"project": "search"}, "6"),
            ({"service": "indexer"}, "6"),
            ({"environment": "staging"}, "6"),
            ({"model": "gemini-3.1-pro"}, "6"),
            ({"mode": "routing_first"}, "5"),
        ],
    )
    def test_filters_change_the_figures_and_stay_in_the_links(
        self, traffic, member, filters, requests
    ):
        html = member("ops").get(PAGES["overview"], filters).content.decode()
        assert headline(html)["requests"]["data-value"] == requests
        for name, value in filters.items():
            reliability = re.search(r'href="(/dashboard/reliability/\?[^"]*)"', html)
            assert reliability is not None and f"{name}={value}" in reliability.group(1)
            assert f'<option value="{value}" selected>' in html

    def test_another_organization_sees_none_of_it(self, traffic, member):
        rival = UserFactory.create(organization=traffic["rival"].organization, role="ops")
        client = Client()
        client.force_login(rival)
        html = client.get(PAGES["overview"]).content.decode()
        assert headline(html)["requests"]["data-value"] == "7"  # its own traffic only
        for url in PAGES.values():
            page = client.get(url).content.decode()
            for acme in ('value="support"', 'data-project="search"', "mystery-model", "indexer"):
                assert acme not in page, (url, acme)
        refused = client.get(PAGES["cost"], {"project": "support"})
        assert refused.status_code == 400 and b"no project" in refused.content
        assert b"data-metric" not in refused.content
        assert client.get("/dashboard/cost.csv", {"project": "support"}).status_code == 400

    @pytest.mark.parametrize(  # one of each is the repricings-in-progress notice
        ("page", "most"),
        [
            ("overview", 28),  # 5 the health grid; 2 the checks' own cost (window and previous)
            ("reliability", 22),
            ("enforcement", 19),  # + the policy table and its chart
            ("routing", 22),
            ("cost", 29),
            ("alerts", 15),
        ],
    )
    def test_query_count_is_small(
        self, traffic, member, project, page, most, django_assert_max_num_queries
    ):
        BudgetFactory.create_batch(3, project=project, amount_usd=Decimal("5.00"))
        client = member("ops")
        client.get(PAGES[page])  # warm the session
        with django_assert_max_num_queries(most):
            assert client.get(PAGES[page], {"range": "7d"}).status_code == 200


# --- Without traffic ----------------------------------------------------------------------


# Each page's count of traffic, shown as zero with its unit when the window is empty.
EMPTY_COUNTS = {
    "overview": ("requests", "0 requests"),
    "reliability": ("attempts", "0 attempts"),
    "enforcement": ("requests", "0 requests"),
    "routing": ("attempts", "0 attempts"),
    "cost": ("requests", "0 requests"),
}
NOT_MEASURED = {"over_interception_threshold"}  # a rule's setting, shown whatever the traffic


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["ops", "finance", "admin"])
@pytest.mark.parametrize("page", list(EMPTY_COUNTS))
def test_empty_windows_say_so_with_zeros_and_units(member, project, role, page):
    response = member(role).get(PAGES[page], {"range": "1h"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="empty-state"' in html and "No traffic in this window" in html
    figures = headline(html)
    metric, shown = EMPTY_COUNTS[page]
    assert figures[metric]["data-value"] == "0"
    assert re.search(rf'data-metric="{metric}" data-value="0"[^>]*>{shown}</span>', html)
    # Every measured figure is a zero or a blank (a rate of nothing), never a stale number.
    for name, item in figures.items():
        if name not in NOT_MEASURED:
            assert as_number(item["data-value"]) in (None, 0), name
    assert "<svg" not in html.split('id="headline"')[1] or page == "routing"


@pytest.mark.django_db
def test_empty_alerts_page(member, project):
    html = member("ops").get(PAGES["alerts"]).content.decode()
    assert 'id="no-open-alerts"' in html and 'id="no-alert-history"' in html
    assert headline(html)["firing_alerts"]["data-value"] == "0"


@pytest.mark.django_db
def test_a_bad_range_is_a_400_naming_it(member, project):
    response = member("ops").get(PAGES["overview"], {"range": "fortnight"})
    assert response.status_code == 400
    assert b'data-field="range"' in response.content


@pytest.mark.django_db
def test_a_project_of_another_organization_is_refused(member, project):
    ProjectFactory.create(name="secret")  # in an organization of its own
    response = member("ops").get(PAGES["enforcement"], {"project": "secret"})
    assert response.status_code == 400 and b'data-field="project"' in response.content


# --- Hostile parameters -------------------------------------------------------------------

HOSTILE_WINDOWS = [
    # Out of the calendar's range once a window or its previous one is worked out.
    ({"range": "custom", "from": "0001-01-01T00:00Z", "to": "0001-01-02T00:00Z"}, "from"),
    ({"range": "custom", "to": "0001-01-01T10:00Z"}, "to"),
    ({"range": "custom", "from": "0001-01-01T00:00+01:00", "to": "0001-01-01T12:00Z"}, "from"),
    ({"range": "custom", "to": "9999-12-31T23:59-01:00"}, "to"),
    ({"range": "custom", "from": "9999-12-31T00:00Z"}, "from"),
    ({"range": "custom", "from": "2026-11-21T08:00", "to": "2026-11-20T08:00"}, "from"),
    ({"range": "custom", "from": "2026-11-20T08:00:10Z", "to": "2026-11-20T08:00:50Z"}, "from"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize(("params", "field"), HOSTILE_WINDOWS)
def test_hostile_windows_are_a_400_naming_the_parameter(member, project, page, params, field):
    response = member("ops").get(PAGES[page], params)
    assert response.status_code == 400
    assert f'data-field="{field}"'.encode() in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "field"), HOSTILE_WINDOWS)
def test_hostile_windows_are_a_400_for_the_csv_too(member, project, params, field):
    response = member("finance").get("/dashboard/cost.csv", params)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"{field}: ")


@pytest.mark.django_db
def test_from_after_to_says_so(member, project):
    response = member("ops").get(
        PAGES["overview"], {"range": "custom", "from": "2026-11-21T08:00", "to": "2026-11-20T08:00"}
    )
    assert response.status_code == 400
    assert b"from: must be before to" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("alert", ["\u00b2", "\u0663", "12abc", "-1", "99999999999999999999"])
def test_an_alert_that_is_not_an_id_is_a_400_naming_it(member, project, alert):
    response = member("ops").get(PAGES["alerts"], {"alert": alert})
    assert response.status_code == 400
    assert b'data-field="alert"' in response.content


# --- The spend CSV ------------------------------------------------------------------------


def spend_row(name: str) -> SpendRow:
    return SpendRow(
        name=name,
        attempts=1,
        requests=1,
        cost_usd=Decimal("0.007000"),
        cost_per_1k_requests_usd=Decimal("7.000000"),
        unpriced_attempts=0,
    )


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://evil","x")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ],
)
@pytest.mark.parametrize("by", ["model", "service", "project"])
def test_spend_csv_names_cannot_run_as_formulas(name, by):
    tables: dict[str, list[SpendRow]] = {group: [] for group in ("model", "service", "project")}
    tables[by] = [spend_row(name)]
    (line,) = csv.DictReader(io.StringIO(spend_csv(tables)))
    assert line["name"] == "'" + name  # a spreadsheet shows it as text
    assert line["cost_usd"] == "0.007000" and line["attempts"] == "1"


def test_spend_csv_keeps_ordinary_names():
    tables = {"model": [spend_row("gpt-5.4")], "service": [], "project": []}
    (line,) = csv.DictReader(io.StringIO(spend_csv(tables)))
    assert line["name"] == "gpt-5.4"

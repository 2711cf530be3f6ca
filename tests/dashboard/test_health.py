"""The overview's health per project: each project's figures are the summary API's for that
project, a figure over its project's rule is flagged bad (in words too), a figure no rule
watches is plain, the reads do not grow with the number of projects, and another
organization's projects never show."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.dashboard.filters import selection_from
from analytics.dashboard.health import (
    BAD,
    GOOD,
    HEALTH_COLUMNS,
    WARN,
    grade_above,
    health_rows,
    project_rules,
)
from analytics.models import Alert, AlertState
from analytics.rollups.job import rollups_advance
from tests.conftest import routing_event
from tests.dashboard.conftest import as_number, page_metrics, page_window
from tests.dashboard.health_tenant import organization_with_outage, post, rule, traffic
from tests.governance.factories import (
    AlertRuleFactory,
    BudgetFactory,
    ProjectFactory,
    UserFactory,
)

OVERVIEW = "/dashboard/"
PROJECTS = ("checkout", "search", "support")
# The grid's metrics and where the summary API answers them.
SUMMARY_OF = {
    "requests": ("requests",),
    "availability": ("availability",),
    "latency_p95_ms": ("latency_ms", "p95"),
    "error_rate": ("error_rate",),
    "interception_rate": ("interception_rate",),
    "violation_rate": ("violation_rate",),
}


def signed_in(organization) -> Client:
    client = Client()
    client.force_login(UserFactory.create(organization=organization, role="ops"))
    return client


def grid(html: str) -> dict[str, dict[str, dict[str, str]]]:
    """The grid's cells: project -> metric -> the cell's data-* attributes."""
    answer: dict[str, dict[str, dict[str, str]]] = {}
    for item in page_metrics(html):
        if "data-project" in item and "data-grade" in item:
            answer.setdefault(item["data-project"], {})[item["data-metric"]] = item
    return answer


@pytest.fixture
def acme(db):
    return organization_with_outage("acme", projects=PROJECTS)


@pytest.fixture
def globex(db):
    return organization_with_outage("globex", projects=("checkout",))


@pytest.mark.django_db(transaction=True)
class TestHealthGrid:
    def test_the_outage_is_flagged_bad_against_its_rule(self, acme):
        response = signed_in(acme.organization).get(OVERVIEW, {"range": "24h"})
        assert response.status_code == 200
        html = response.content.decode()
        cells = grid(html)
        assert sorted(cells) == list(PROJECTS)
        checkout = cells["checkout"]
        assert checkout["availability"]["data-value"] == "0.5"
        for metric in ("availability", "error_rate", "budget_percent", "firing_alerts"):
            assert checkout[metric]["data-grade"] == BAD, metric
        # Judged by no rule: plain, whatever the figure.
        for metric in ("latency_p95_ms", "interception_rate", "violation_rate", "cost_usd"):
            assert checkout[metric]["data-grade"] == "", metric
        rows = {row.project: row for row in response.context["health"]}
        assert [name for name, row in rows.items() if row.flagged] == ["checkout"]
        # Not colour only: the words say it.
        error = next(cell for cell in rows["checkout"].cells if cell.metric == "error_rate")
        assert (error.cue, error.basis) == ("over limit", "rule “error rate”: above 5.00% is bad")
        assert html.index('id="health-grid"') < html.index('id="headline"')

    def test_a_figure_without_a_rule_is_plain(self, acme):
        cells = grid(signed_in(acme.organization).get(OVERVIEW).content.decode())
        search = cells["search"]
        assert {metric: cell["data-grade"] for metric, cell in search.items()} == {
            metric: "" for metric, _ in HEALTH_COLUMNS
        }
        rows = {
            row.project: row for row in signed_in(acme.organization).get(OVERVIEW).context["health"]
        }
        (budget,) = [c for c in rows["search"].cells if c.metric == "budget_percent"]
        assert budget.display == "no budget"

    def test_a_healthy_project_under_rules_is_good(self, acme):
        support = grid(signed_in(acme.organization).get(OVERVIEW).content.decode())["support"]
        for metric in ("availability", "error_rate", "latency_p95_ms", "budget_percent"):
            assert support[metric]["data-grade"] == GOOD, metric
        # 10% blocked against a 50% rule: good; the model-scoped 1 ms latency rule grades nothing.
        assert support["interception_rate"]["data-value"] == "0.1"
        assert support["interception_rate"]["data-grade"] == GOOD
        assert support["firing_alerts"]["data-value"] == "0"

    def test_figures_are_the_summary_apis_for_each_project(self, acme):
        client = signed_in(acme.organization)
        html = client.get(OVERVIEW, {"range": "24h"}).content.decode()
        window = page_window(html)
        cells = grid(html)
        for project in PROJECTS:
            answer = client.get("/api/v1/metrics/summary", {**window, "project": project})
            assert answer.status_code == 200
            summary = answer.json()
            for metric, path in SUMMARY_OF.items():
                expected = summary
                for key in path:
                    expected = expected[key]
                assert as_number(cells[project][metric]["data-value"]) == expected, (
                    project,
                    metric,
                )
            assert cells[project]["cost_usd"]["data-value"] == summary["cost_usd"], project
        assert as_number(cells["support"]["requests"]["data-value"]) == 50

    def test_firing_alerts_link_to_the_alerts_of_the_project(self, acme):
        html = signed_in(acme.organization).get(OVERVIEW, {"range": "7d"}).content.decode()
        firing = Alert.objects.filter(project=acme.projects["checkout"], state=AlertState.FIRING)
        assert {alert.kind for alert in firing} == {"error_rate", "cost_overrun"}  # and the budget
        assert grid(html)["checkout"]["firing_alerts"]["data-value"] == "2"
        assert '<a href="/dashboard/alerts/?range=7d&amp;project=checkout">2 firing</a>' in html
        assert (
            '<a href="/dashboard/reliability/?range=7d&amp;project=checkout">checkout</a>' in html
        )

    def test_each_figure_links_to_the_page_that_explains_it(self, acme):
        html = signed_in(acme.organization).get(OVERVIEW, {"range": "7d"}).content.decode()
        row = re.search(r'<tr data-project="checkout".*?</tr>', html, re.S)
        assert row is not None
        links = dict(re.findall(r'data-metric="([a-z_0-9]+)"[^>]*><a href="([^"]+)"', row[0]))
        query = "?range=7d&amp;project=checkout"
        assert links == {
            "availability": f"/dashboard/reliability/{query}",
            "latency_p95_ms": f"/dashboard/reliability/{query}",
            "error_rate": f"/dashboard/reliability/{query}",
            "interception_rate": f"/dashboard/enforcement/{query}",
            "violation_rate": f"/dashboard/enforcement/{query}",
            "cost_usd": f"/dashboard/cost/{query}",
            "budget_percent": f"/dashboard/cost/{query}",
            "firing_alerts": f"/dashboard/alerts/{query}",
        }

    def test_an_incident_resolved_in_the_window_is_a_warning(self, acme):
        alerts = Alert.objects.filter(project=acme.projects["checkout"])
        error_rate, overrun = alerts.get(kind="error_rate"), alerts.get(kind="cost_overrun")
        hour = timedelta(hours=1)
        alerts.filter(pk=error_rate.pk).update(
            state=AlertState.RESOLVED,
            firing_since=acme.now - timedelta(minutes=20),
            resolved_at=acme.now - timedelta(minutes=5),
        )
        alerts.filter(pk=overrun.pk).update(  # an incident over before the last hour
            state=AlertState.RESOLVED,
            firing_since=acme.now - 3 * hour,
            resolved_at=acme.now - 2 * hour,
        )
        response = signed_in(acme.organization).get(OVERVIEW, {"range": "1h"})
        cell = grid(response.content.decode())["checkout"]["firing_alerts"]
        assert (cell["data-value"], cell["data-grade"]) == ("0", WARN)
        row = next(row for row in response.context["health"] if row.project == "checkout")
        alerts_cell = row.cells[-1]
        assert (alerts_cell.display, alerts_cell.cue) == ("1 fired", "resolved")
        seven_days = signed_in(acme.organization).get(OVERVIEW, {"range": "7d"}).context["health"]
        assert next(r for r in seven_days if r.project == "checkout").cells[-1].display == "2 fired"

    def test_a_project_filter_shows_its_row_only(self, acme):
        html = signed_in(acme.organization).get(OVERVIEW, {"project": "search"}).content.decode()
        assert sorted(grid(html)) == ["search"]

    def test_another_organizations_projects_never_show(self, acme, globex):
        theirs = grid(signed_in(globex.organization).get(OVERVIEW).content.decode())
        assert sorted(theirs) == ["checkout"]
        # Their checkout is their own: 40 requests, not acme's.
        assert theirs["checkout"]["requests"]["data-value"] == "40"
        ours = signed_in(acme.organization).get(OVERVIEW).content.decode()
        assert sorted(grid(ours)) == list(PROJECTS)
        assert ours.count('data-project="checkout"') == 1

    def test_reads_do_not_grow_with_the_projects(self, acme):
        def reads() -> int:
            selection = selection_from(
                {"range": "7d"}, organization_id=acme.organization.pk, now=timezone.now()
            )
            with CaptureQueriesContext(connection) as queries:
                rows = health_rows(
                    selection, organization_id=acme.organization.pk, now=timezone.now()
                )
            assert rows
            return len(queries)

        before = reads()
        for index in range(4):  # more projects, each with traffic, rules and a budget
            extra = ProjectFactory.create(
                organization=acme.organization, name=f"extra-{index}", matrix=True
            )
            post(extra, traffic(12, now=acme.now, prefix=f"x{index}", failing=index))
            rule(extra, "error_rate", "0.1")
            rule(extra, "latency_slo", "900")
            BudgetFactory.create(project=extra, name=f"extra {index}", amount_usd="50")
        rollups_advance(max_seconds=float("inf"))
        assert reads() == before


# --- Grading ------------------------------------------------------------------------------


def test_grades_say_over_near_and_within_the_threshold():
    limit = Decimal("0.05")
    assert grade_above(0.06, limit) == (BAD, "over limit")
    assert grade_above(0.045, limit) == (WARN, "near limit")
    assert grade_above(0.05, limit) == (WARN, "near limit")  # a rule fires strictly above
    assert grade_above(0.01, limit) == (GOOD, "ok")
    assert grade_above(None, limit) == ("", "no data")
    assert grade_above(0.9, limit, judged=False) == ("", "too few to judge")


@pytest.mark.django_db
def test_the_strictest_project_rule_of_a_kind_grades():
    project = ProjectFactory.create()
    loose = AlertRuleFactory.create(project=project, kind="error_rate", threshold="0.2")
    strict = AlertRuleFactory.create(project=project, kind="error_rate", threshold="0.05")
    AlertRuleFactory.create(
        project=project, kind="error_rate", threshold="0.01", scope_kind="service", scope_name="a"
    )
    AlertRuleFactory.create(project=project, kind="error_rate", threshold="0.001", is_active=False)
    drift = AlertRuleFactory.create(project=project, kind="routing_drift")
    chosen = project_rules([loose, strict, drift, *project.alert_rules.all()])
    assert chosen == {(project.pk, "error_rate"): strict}


@pytest.mark.django_db(transaction=True)
def test_too_few_requests_for_the_rule_are_not_judged(member, post_batch, project):
    AlertRuleFactory.create(project=project, kind="error_rate", threshold="0.05", min_requests=5)
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    post_batch([routing_event(timestamp=at, status="error") for _ in range(2)])
    rollups_advance(max_seconds=float("inf"))
    (row,) = member("ops").get(OVERVIEW).context["health"]
    error = next(cell for cell in row.cells if cell.metric == "error_rate")
    assert (error.value, error.grade, error.cue) == (1.0, "", "too few to judge")

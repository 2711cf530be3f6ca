"""The architectures page: a column per mode whose figures, references and positions are the
comparison API's for the same window and filters, the mode filter dropped, each project's
advice, another organization's data never shown, and reads that stay bounded."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.dashboard.filters import selection_from
from analytics.dashboard.pages.advice import ADVICE_SHOWN
from analytics.dashboard.pages.architectures import architectures_context
from analytics.dashboard.pages.comparison_table import dimensions, reference_text, verdict
from analytics.metrics.advice import project_advice
from analytics.metrics.compare import metrics_compare
from analytics.metrics.results import ReferenceRange, RolloutsSummary, Spread
from analytics.rollups.job import rollups_advance
from governance.models import ProjectProfile
from tests.conftest import routing_event
from tests.dashboard.conftest import _post, headline, page_metrics, page_window, rows
from tests.governance.factories import ApiKeyFactory, ProjectFactory, ServiceFactory, UserFactory

PAGE = "/dashboard/architectures/"
# data-metric on the page -> where the compare API's row holds it.
API_PATHS: dict[str, tuple[str, ...]] = {
    "requests": ("traffic", "requests"),
    "attempts": ("traffic", "attempts"),
    "fallback_share": ("traffic", "fallback_share"),
    "latency_p50_ms": ("latency", "latency_ms", "p50"),
    "latency_p95_ms": ("latency", "latency_ms", "p95"),
    "latency_p99_ms": ("latency", "latency_ms", "p99"),
    "end_to_end_p95_ms": ("latency", "end_to_end_ms", "p95"),
    "cost_usd": ("cost", "cost_usd"),
    "cost_per_1k_requests_usd": ("cost", "cost_per_1k_requests_usd"),
    "enforcement_cost_per_1k_requests_usd": ("cost", "enforcement_cost_per_1k_requests_usd"),
    "violation_rate": ("security", "violation_rate"),
    "interception_rate": ("security", "interception_rate"),
    "layers_per_request": ("security", "layers_per_request"),
    "error_rate": ("reliability", "error_rate"),
    "availability": ("reliability", "availability"),
    "events_per_request": ("observability", "events_per_request"),
}


def _api(client: Client, params: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/compare", params)
    assert response.status_code == 200, response.content
    return {row["mode"]: row for row in response.json()["modes"]}


def _at(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        row = row[key]
    return row


def _same(shown: str, answered: Any) -> bool:
    if answered is None:
        return shown == ""
    return Decimal(shown) == Decimal(str(answered))


def _positions(html: str) -> dict[tuple[str, str], str]:
    """(mode, metric) -> data-position of the table's cells that have one."""
    return {
        (item["data-mode"], item["data-metric"]): item["data-position"]
        for item in page_metrics(html)
        if "data-position" in item
    }


@pytest.mark.django_db(transaction=True)  # the rollup job reads committed events
class TestComparison:
    @pytest.mark.parametrize("role", ["ops", "finance", "admin"])
    def test_each_column_is_the_compare_apis_row(self, traffic, member, role):
        client = member(role)
        html = client.get(PAGE).content.decode()
        shown = rows(html, "data-mode")
        answered = _api(client, page_window(html))
        assert sorted(shown) == sorted(answered) == ["hybrid", "routing_first"]
        for mode, row in answered.items():
            for metric, path in API_PATHS.items():
                assert _same(shown[mode][metric], _at(row, path)), (mode, metric)
        positions = _positions(html)
        expected = {
            (mode, figure): place["position"]
            for mode, row in answered.items()
            for figure, place in row["position"].items()
            if place["position"] is not None
        }
        assert positions == expected and positions  # every position the API gives, no other
        requests = sum(row["traffic"]["requests"] for row in answered.values())
        assert headline(html)["requests"]["data-value"] == str(requests)

    def test_the_context_is_metrics_compare(self, traffic, organization):
        selection = selection_from(
            {"range": "24h"}, organization_id=organization.pk, now=timezone.now()
        )
        context = architectures_context(selection)
        compared = {row.mode: row for row in metrics_compare(selection.query).rows}
        lines = {line.metric: line for d in context["dimensions"] for line in d.lines}
        for cell in lines["latency_p95_ms"].cells:
            assert cell.value == compared[cell.mode].latency.latency_ms.p95
        for cell in lines["cost_per_1k_requests_usd"].cells:
            assert cell.value == compared[cell.mode].cost.cost_per_1k_requests_usd
        hybrid = next(c for c in lines["violation_rate"].cells if c.mode == "hybrid")
        assert hybrid.reference == "ref 0.5-2%"
        assert [mode for mode, _ in context["columns"]] == list(compared)
        for cell in lines["rollouts"].cells:
            maintained = compared[cell.mode].maintainability
            assert maintained is not None and cell.value == maintained.rollouts
        assert len(context["charts"]) == 4

    def test_the_maintainability_dimension_reads_the_rollouts_summary(self, traffic, organization):
        """The maintainability group (RolloutsSummary: rollouts, propagation_s {median, max},
        mixed_version_share) as the table shows it."""
        selection = selection_from(
            {"range": "24h"}, organization_id=organization.pk, now=timezone.now()
        )
        summary = RolloutsSummary(2, Spread(median=40.0, max=90.0), 0.125)
        rows = [
            replace(row, maintainability=summary) for row in metrics_compare(selection.query).rows
        ]
        found = {d.key: d for d in dimensions(rows)}["maintainability"]
        shown = {line.metric: line.cells[0] for line in found.lines}
        assert shown["rollouts"].display == "2 rollouts"
        assert shown["propagation_median_s"].value == 40.0
        assert shown["propagation_max_s"].display == "1 min 30 s"
        assert shown["mixed_version_share"].display == "12.5%"

    def test_filters_narrow_it_and_the_mode_filter_is_dropped(self, traffic, member):
        client = member("ops")
        search = client.get(PAGE, {"project": "search"}).content.decode()
        assert sorted(rows(search, "data-mode")) == ["hybrid"]
        assert rows(search, "data-mode")["hybrid"]["requests"] == "6"
        moded = client.get(PAGE, {"mode": "routing_first"})
        assert moded.status_code == 200
        html = moded.content.decode()
        assert 'id="mode-dropped"' in html and 'name="mode"' not in html
        assert sorted(rows(html, "data-mode")) == ["hybrid", "routing_first"]
        assert "mode=" not in html.split('id="window"')[0].split("<main>")[0]  # nav dropped it

    def test_empty_window_says_so(self, member, project):
        html = member("finance").get(PAGE).content.decode()
        assert 'id="empty-state"' in html and 'id="comparison"' not in html
        assert headline(html)["requests"]["data-value"] == "0"

    def test_the_overview_links_here_keeping_the_selection(self, traffic, member):
        html = member("ops").get("/dashboard/", {"range": "7d"}).content.decode()
        assert 'id="compare-architectures" href="/dashboard/architectures/?range=7d"' in html
        assert 'data-page="architectures"' in html


@pytest.mark.django_db(transaction=True)  # the rollup job reads committed events
class TestAdvice:
    def test_a_profile_gives_its_recommendation_reasons_and_findings(self, traffic, member):
        project = traffic["search"]
        ProjectProfile.objects.create(
            project=project, precision="high", traffic_pattern="fixed", cost_sensitivity="high"
        )
        client = member("ops")
        html = client.get(PAGE).content.decode()
        card = html.split('data-project="search"')[1].split("</article>")[0]
        # Two votes for routing_first, one for enforcement_first; high precision overrides.
        assert 'data-advice="recommended_mode" data-value="hybrid"' in card
        assert "5-7 enforcement layers" in card
        assert "high-risk traffic must pass runtime checks" in card
        assert 'data-advice="measured_mode" data-value="hybrid"' in card
        assert 'data-question="precision"' in card and "enforcement-first" in card
        assert 'data-finding="too_few_layers"' in card  # search has no checks at all
        assert "Fewer enforcement layers than its profile calls for" in card
        advice = project_advice(
            selection_from(
                {"range": "24h"}, organization_id=project.organization_id, now=timezone.now()
            ).query,
            project,
        )
        for finding in advice.findings:
            assert f'data-finding="{finding.code}"' in card

    def test_no_profile_links_admins_to_it(self, traffic, member, project):
        ops = member("ops").get(PAGE).content.decode()
        card = ops.split('data-project="support"')[1].split("</article>")[0]
        assert "No profile" in card and 'data-finding="no_profile"' in card
        assert "/admin/" not in card
        admin = member("admin").get(PAGE).content.decode()
        card = admin.split('data-project="support"')[1].split("</article>")[0]
        assert f'href="/admin/governance/project/{project.pk}/change/"' in card


@pytest.mark.django_db(transaction=True)  # the rollup job reads committed events
class TestIsolation:
    def test_another_organization_sees_none_of_it(self, traffic):
        rival = UserFactory.create(organization=traffic["rival"].organization, role="ops")
        client = Client()
        client.force_login(rival)
        html = client.get(PAGE).content.decode()
        assert rows(html, "data-mode")["hybrid"]["requests"] == "7"  # its own traffic only
        for acme in ('data-project="support"', 'data-project="search"', "mystery-model"):
            assert acme not in html
        refused = client.get(PAGE, {"project": "support"})
        assert refused.status_code == 400 and b'data-field="project"' in refused.content
        assert b"data-metric" not in refused.content


@pytest.mark.django_db(transaction=True)  # the rollup job reads committed events
class TestReads:
    def test_query_count_is_small(self, traffic, member, django_assert_max_num_queries):
        client = member("ops")
        client.get(PAGE)  # warm the session
        # 9 the session, member, filters and repricings; 4 the comparison (with its version
        # rollups, whose rollouts are read on only where they hold several versions); 1 the
        # end-to-end chart; 5 each of the two projects' advice (profile, comparison, layers).
        with django_assert_max_num_queries(24):
            assert client.get(PAGE, {"range": "7d"}).status_code == 200

    def test_a_project_adds_at_most_its_own_advices_reads(self, traffic, member, organization):
        client = member("ops")
        client.get(PAGE)

        def reads() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(PAGE, {"range": "7d"}).status_code == 200
            return len(queries)

        before = reads()
        selection = selection_from(
            {"range": "7d"}, organization_id=organization.pk, now=timezone.now()
        )
        with CaptureQueriesContext(connection) as one:
            project_advice(selection.query, traffic["search"], rollouts=False)  # as the page
        extra = []
        for index in range(3):
            added = ProjectFactory.create(
                organization=organization, name=f"extra-{index}", matrix=True
            )
            key = ApiKeyFactory.create(service=ServiceFactory.create(project=added)).raw_key
            _post([routing_event(mode="routing_first") for _ in range(3)], key)
            extra.append(added)
        rollups_advance(max_seconds=float("inf"))
        assert reads() <= before + 3 * len(one)

    def test_one_project_in_view_reads_its_comparison_once(self, traffic, member):
        client = member("ops")
        client.get(PAGE)

        def comparison_reads(params: dict[str, str]) -> int:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(PAGE, {"range": "7d", **params}).status_code == 200
            # The comparison's first read: attempts by mode and model.
            return sum(q["sql"].startswith("SELECT t.mode, t.model, ") for q in queries)

        assert comparison_reads({}) == 3  # the page's, then each of the two projects' advice
        assert comparison_reads({"project": "search"}) == 1  # its advice takes the page's
        assert comparison_reads({"project": "support", "policy": "pii-filter"}) == 2  # advice: none

    def test_advice_is_read_for_a_bounded_number_of_projects(self, traffic, member, organization):
        for index in range(ADVICE_SHOWN):
            ProjectFactory.create(organization=organization, name=f"more-{index:02}", matrix=True)
        client = member("ops")
        client.get(PAGE)
        with CaptureQueriesContext(connection) as queries:
            html = client.get(PAGE).content.decode()
        assert len(queries) <= 14 + 5 * ADVICE_SHOWN  # the ceiling, whatever the projects
        assert html.count('class="panel advice"') == ADVICE_SHOWN
        assert 'id="advice-more"' in html and "support" in html.split('id="advice-more"')[1]


# --- Words -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "text"),
    [
        (ReferenceRange("latency_p50_ms", 150, 150), "ref 150 ms"),
        (ReferenceRange("error_rate", 0.005, 0.02), "ref 0.5-2%"),
        (ReferenceRange("violation_rate", 0.0001, 0.001), "ref 0.01-0.1%"),
        (ReferenceRange("availability", 0.9995, 0.9995), "ref 99.95%"),
        (ReferenceRange("migration_time_s", 30, 120), "ref 30-120 s"),
    ],
)
def test_references_read_as_the_article_writes_them(reference, text):
    assert reference_text(reference) == text


@pytest.mark.parametrize(
    ("figure", "position", "words", "tone"),
    [
        ("latency_p95_ms", "above", "above: worse", "bad"),
        ("latency_p95_ms", "below", "below: better", "good"),
        ("availability", "below", "below: worse", "bad"),
        ("availability", "above", "above: better", "good"),
        ("savings_share", "below", "below: worse", "bad"),
        ("error_rate", "within", "within", "ok"),
        ("error_rate", None, "", ""),
    ],
)
def test_a_position_says_whether_that_side_is_worse(figure, position, words, tone):
    assert verdict(figure, position) == (words, tone)

"""The interceptions page: the latest blocked and modified requests of the window, newest
first, narrowed by layer, policy and the filter bar, never another organization's, each
linking to its request page; the enforcement page's layers link to it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from ingestion.interception_reads import intercepting_checks
from ingestion.selectors import interceptions_latest
from tests.conftest import enforcement_event
from tests.dashboard.conftest import _post
from tests.governance.factories import (
    ApiKeyFactory,
    ProjectFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROW = re.compile(
    r'<tr data-request-id="([^"]*)" data-project="([^"]*)" data-layer="([^"]*)" '
    r'data-policy="([^"]*)" data-verdict="([^"]*)">'
)


@pytest.fixture
def checks(project, service, ingest_key):
    """acme/support: blocks and modifies at three moments (and allows and a flag, never
    listed); globex/rival: a block with the same request id, which must never show."""
    now = datetime.now(UTC).replace(microsecond=0)
    at = [now - timedelta(minutes=minutes) for minutes in (50, 30, 10)]
    _post(
        [
            enforcement_event(timestamp=at[0].isoformat(), request_id="old", verdict="block"),
            enforcement_event(
                timestamp=at[1].isoformat(),
                request_id="mid",
                layer="verification",
                policy="output-safety",
                verdict="modify",
                violation="toxicity",
                severity="high",
            ),
            enforcement_event(timestamp=at[2].isoformat(), request_id="new", verdict="block"),
            enforcement_event(timestamp=at[2].isoformat(), request_id="fine", verdict="allow"),
            enforcement_event(timestamp=at[2].isoformat(), request_id="odd", verdict="flag"),
            enforcement_event(
                timestamp=(now - timedelta(days=3)).isoformat(),
                request_id="ancient",
                verdict="block",
            ),
        ],
        ingest_key,
    )
    rival = ProjectFactory.create(organization__name="globex", name="rival", matrix=True)
    rival_key = ApiKeyFactory.create(service=ServiceFactory.create(project=rival, name="r")).raw_key
    _post(
        [enforcement_event(timestamp=at[2].isoformat(), request_id="new", verdict="block")],
        rival_key,
    )
    return {"rival": rival, "at": at}


def _rows(page: str) -> list[tuple[str, ...]]:
    return ROW.findall(page)


def test_latest_interceptions_newest_first_without_another_tenants(member, checks, project):
    page = member("ops").get("/dashboard/enforcement/interceptions/").content.decode()
    assert _rows(page) == [
        ("new", project.name, "preprocess", "pii-filter", "block"),
        ("mid", project.name, "verification", "output-safety", "modify"),
        ("old", project.name, "preprocess", "pii-filter", "block"),
    ]  # allows, flags, the rival's block and checks outside the 24 h window are left out
    assert "rival" not in page
    link = f'href="/dashboard/requests/mid/?project={project.name}"'
    assert link in page
    assert "toxicity" in page


def test_layer_policy_and_filters_narrow_the_list(member, checks, project, service):
    ops = member("ops")
    url = "/dashboard/enforcement/interceptions/"
    by_layer = ops.get(url, {"layer": "verification"}).content.decode()
    assert [row[0] for row in _rows(by_layer)] == ["mid"]
    by_policy = ops.get(url, {"policy": "pii-filter"}).content.decode()
    assert [row[0] for row in _rows(by_policy)] == ["new", "old"]
    # The range links and the filter bar keep the policy.
    assert re.search(r'href="\?range=7d&amp;[^"]*policy=pii-filter"', by_policy)
    assert '<input type="hidden" name="policy" value="pii-filter">' in by_policy
    recent = ops.get(url, {"range": "custom", "from": checks["at"][1].isoformat()})
    assert [row[0] for row in _rows(recent.content.decode())] == ["new", "mid"]
    week = ops.get(url, {"range": "7d"}).content.decode()
    assert [row[0] for row in _rows(week)] == ["new", "mid", "old", "ancient"]
    # The filter bar's service: another service of the project has its own block.
    other = ServiceFactory.create(project=project, name="indexer")
    _post(
        [
            enforcement_event(
                timestamp=checks["at"][2].isoformat(), request_id="idx", verdict="block"
            )
        ],
        ApiKeyFactory.create(service=other).raw_key,
    )
    everything = ops.get(url).content.decode()
    assert [row[0] for row in _rows(everything)] == ["idx", "new", "mid", "old"]
    by_service = ops.get(url, {"service": "indexer"}).content.decode()
    assert [row[0] for row in _rows(by_service)] == ["idx"]
    assert ops.get(url, {"service": "no-such-service"}).status_code == 400


def test_bad_narrowing_is_a_400_naming_it(member, checks):
    ops = member("ops")
    url = "/dashboard/enforcement/interceptions/"
    assert ops.get(url, {"layer": "nope"}).status_code == 400
    assert 'data-field="layer"' in ops.get(url, {"layer": "nope"}).content.decode()
    assert ops.get(url, {"policy": "p" * 101}).status_code == 400
    assert ops.get(url, {"policy": "a\x00b"}).status_code == 400


def test_a_rival_user_sees_only_their_own(client, checks):
    rival_user = UserFactory.create(organization=checks["rival"].organization)
    client.force_login(rival_user)
    page = client.get("/dashboard/enforcement/interceptions/").content.decode()
    assert _rows(page) == [("new", "rival", "preprocess", "pii-filter", "block")]


def test_the_enforcement_layers_link_here(member, traffic):
    page = member("ops").get("/dashboard/enforcement/").content.decode()
    assert re.search(
        r'<a href="/dashboard/enforcement/interceptions/\?range=24h[^"]*&amp;layer=execution">',
        page,
    )


def test_the_page_reads_in_few_queries(member, checks, django_assert_max_num_queries):
    ops = member("ops")
    with django_assert_max_num_queries(12):
        assert ops.get("/dashboard/enforcement/interceptions/").status_code == 200


def test_the_selector_limits_and_scopes(checks, project):
    now = datetime.now(UTC)
    rows = interceptions_latest(
        project_ids=[project.pk], start=now - timedelta(days=7), end=now, limit=2
    )
    assert [row.request_id for row in rows] == ["new", "mid"]
    assert interceptions_latest(project_ids=[], start=now - timedelta(days=7), end=now) == []


def test_the_read_uses_the_timestamp_index_and_prunes_partitions(checks, project):
    now = datetime.now(UTC)
    query = intercepting_checks(project_ids=[project.pk], start=now - timedelta(hours=24), end=now)[
        :50
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        # A few rows: the planner would scan them whatever; what matters is that it can use
        # an index, and that partitions outside the window are not read.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "Seq Scan" not in plan, plan
    # The BRIN on timestamp or the (project_id, request_id) index, whichever the planner
    # finds cheaper: both narrow the read to the window or the tenant.
    assert re.search(r"(Bitmap Index|Index) Scan using \S*(timestamp|project_id)", plan), plan
    months = {f"y{moment:%Y}m{moment:%m}" for moment in (now - timedelta(hours=24), now)}
    read = set(re.findall(r"ingestion_enforcementevent_(y\d{4}m\d{2})", plan))
    assert read == months, plan  # only the window's partitions

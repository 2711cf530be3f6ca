"""Rollouts (DESIGN.md **Rollouts**): hand-built version timelines posted through the ingest
API, folded by the rollup job (in order, out of order, rebuilt), and read through
`rollouts_list` (and its `summary_of`) and `GET /api/v1/rollouts`.

These tests commit (transactional): the rollup job only reads events of finished
transactions, as in production.
"""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from analytics.metrics.compare import metrics_compare
from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import Rollout
from analytics.metrics.rollouts import rollouts_list, summary_of
from analytics.metrics.window import Window
from analytics.models import VersionRollup
from analytics.rollups.job import rollups_advance
from analytics.rollups.rebuild import rollups_rebuild, version_rollups_rebuild_all
from governance.models import Project
from governance.services import api_key_create
from ingestion import selectors
from tests.analytics.test_metrics import read_client_of
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import OrganizationFactory, ProjectFactory
from tollgate.db.sql import fetch_rows

pytestmark = pytest.mark.django_db(transaction=True)

B = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=20)


def at(minutes: int, seconds: int = 0) -> datetime:
    return B + timedelta(minutes=minutes, seconds=seconds)


def routed(when: datetime, version: str, mode: str = "hybrid") -> dict:
    return routing_event(timestamp=when.isoformat(), router_version=version, mode=mode)


def checked(when: datetime, version: str, policy: str = "pii-filter", **more) -> dict:
    return enforcement_event(
        timestamp=when.isoformat(), policy=policy, policy_version=version, **more
    )


# The router: v2 rolls out at 10:15 while v1 answers until 12:05 (v1 at 10:05 is before the
# start, in the same minute; v1 at 10:40 after it, in the same minute), then a rollback to
# v1 at 70:00, after v2's last event. pii-filter: p2 rolls out at 40:00 with no stragglers.
# toxicity keeps one version: no rollout. Events without a version count nowhere.
TIMELINE = [
    routed(at(0), "v1"),
    routed(at(0, 30), "v1"),
    routed(at(5), "v1"),
    routed(at(10, 5), "v1"),
    routed(at(10, 15), "v2"),
    routed(at(10, 40), "v1"),
    routed(at(11), "v2"),
    routed(at(12, 5), "v1"),
    routed(at(13), "v2"),
    routed(at(20), "v2"),
    routed(at(60), "v2"),
    routed(at(70), "v1"),
    routed(at(75), "v1"),
    routing_event(timestamp=at(11, 30).isoformat()),
    checked(at(0, 20), "p1"),
    checked(at(30), "p1"),
    checked(at(40), "p2"),
    checked(at(45), "p2"),
    checked(at(1), "t1", policy="toxicity"),
    checked(at(50), "t1", policy="toxicity"),
    enforcement_event(timestamp=at(12).isoformat(), policy="pii-filter"),
]
EXPECTED = [
    # component, version, from_version, start, end, events, older
    ("router", "v2", "v1", at(10, 15), at(12, 5), 4, 2),
    ("policy:pii-filter", "p2", "p1", at(40), at(40), 1, 0),
    ("router", "v1", "v2", at(70), at(70), 1, 0),
]


def query_of(project: Project, start: datetime, end: datetime, **filters) -> MetricsQuery:
    return MetricsQuery(window=Window.of(start, end), projects=(project,), **filters)


def found(rollouts: list[Rollout]) -> list[tuple]:
    return [
        (
            r.component,
            r.version,
            r.from_version,
            r.started_at,
            r.ended_at,
            r.events,
            r.older_events,
        )
        for r in rollouts
    ]


def post(post_batch, events: list[dict]) -> None:
    response = post_batch(events)
    assert response.status_code == 200, response.content


def test_rollouts_start_end_propagation_and_mixed_share(post_batch, project):
    post(post_batch, TIMELINE)
    rollups_advance()
    rollouts = rollouts_list(query_of(project, at(-60), at(120)))
    assert found(rollouts) == EXPECTED
    router_v2, policy_p2, rollback = rollouts
    assert router_v2.project == project.name
    assert router_v2.propagation_s == 110.0
    assert router_v2.mixed_version_share == 0.5
    assert policy_p2.propagation_s == 0.0 and policy_p2.mixed_version_share == 0.0
    assert rollback.propagation_s == 0.0

    summary = summary_of(rollouts_list(query_of(project, at(-60), at(120))))
    assert summary.rollouts == 3
    assert summary.propagation_s.median == 0.0
    assert summary.propagation_s.max == 110.0
    assert summary.mixed_version_share == pytest.approx(2 / 6, abs=1e-6)


def test_a_long_span_counts_its_whole_minutes_from_rollups_as_the_raw_events_say(
    post_batch, project
):
    # v2 starts at 0:40 and v1 answers until 7:20: minutes 1 to 6 are whole inside the span
    # (counted from the minute rows), 0 and 7 are its edges (counted from the raw events,
    # where v1 at 0:10 and v2 at 7:50 fall outside it). Some events are of another
    # environment, which the filter leaves out of both.
    rng = random.Random(7)
    timeline = [routed(at(0, 10), "v1"), routed(at(0, 40), "v2"), routed(at(7, 50), "v2")]
    for minute in range(1, 7):
        for _ in range(5):
            version = rng.choice(("v1", "v2"))
            timeline.append(routed(at(minute, rng.randint(0, 59)), version))
    timeline += [routed(at(3, 30), "v1") | {"environment": "staging"}, routed(at(7, 20), "v1")]
    post(post_batch, timeline)
    rollups_advance()
    (rollout,) = rollouts_list(query_of(project, at(-60), at(120), environment="production"))
    assert (rollout.started_at, rollout.ended_at) == (at(0, 40), at(7, 20))
    inside = [
        event
        for event in timeline
        if event.get("environment", "production") == "production"
        and at(0, 40) <= datetime.fromisoformat(event["timestamp"]) <= at(7, 20)
    ]
    older = [event for event in inside if event["router_version"] != "v2"]
    assert (rollout.events, rollout.older_events) == (len(inside), len(older))
    assert rollout.mixed_version_share == pytest.approx(len(older) / len(inside), abs=1e-6)


def test_counting_the_spans_reads_the_version_indexes_alone(post_batch, project, monkeypatch):
    post(post_batch, TIMELINE)
    rollups_advance()
    plans: list[str] = []

    def explained(sql, params):
        plans.extend(line for (line,) in fetch_rows(f"EXPLAIN {sql}", params))
        return fetch_rows(sql, params)

    monkeypatch.setattr(selectors, "fetch_rows", explained)
    with transaction.atomic(), connection.cursor() as cursor:
        # A few rows: the planner would scan them whatever; what matters is that the
        # indexes hold all a span's count needs (each event's version and mode).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        # Weighs every index scan alike, index-only ones too: what is left to choose is
        # whether an index holds all the count reads (a plain index scan visits the table).
        cursor.execute("SET LOCAL enable_indexscan = off")
        assert found(rollouts_list(query_of(project, at(-60), at(120)))) == EXPECTED
    plan = "\n".join(plans)
    for table in ("routingevent", "enforcementevent"):
        assert re.search(rf"Index Only Scan using \S+ on ingestion_{table}_", plan), plan
    assert not re.search(r"Index Scan|Bitmap Heap Scan", plan), plan
    assert "Seq Scan" not in plan, plan


def test_no_rollouts_summary_is_empty(project):
    summary = summary_of(rollouts_list(query_of(project, at(-60), at(120))))
    assert summary.rollouts == 0
    assert summary.propagation_s.median is None and summary.propagation_s.max is None
    assert summary.mixed_version_share is None


def test_late_events_folded_out_of_order_give_the_same_rollouts(post_batch, project):
    events = list(TIMELINE)
    random.Random(7).shuffle(events)
    for position in range(0, len(events), 4):
        post(post_batch, events[position : position + 4])
        rollups_advance()
    assert post_batch(events).json()["duplicates"] == len(events)  # a replay adds nothing
    rollups_advance()
    assert found(rollouts_list(query_of(project, at(-60), at(120)))) == EXPECTED


def _stored() -> list[tuple]:
    return sorted(
        VersionRollup.objects.values_list(
            "grain",
            "project_id",
            "service_id",
            "environment",
            "component",
            "version",
            "mode",
            "bucket",
            "events",
            "first_at",
            "last_at",
        )
    )


def test_rebuilds_make_the_same_rows(post_batch, project):
    events = list(TIMELINE)
    random.Random(3).shuffle(events)
    for position in range(0, len(events), 5):
        post(post_batch, events[position : position + 5])
        rollups_advance()
    folded = _stored()
    for grain in "mhd":  # every grain holds each event carrying a version once
        assert sum(row[8] for row in folded if row[0] == grain) == 19
    rollups_rebuild(project=project, start=at(-60), end=at(120))
    assert _stored() == folded
    VersionRollup.objects.all().delete()
    with transaction.atomic():
        version_rollups_rebuild_all()  # the migration's backfill
    assert _stored() == folded
    assert found(rollouts_list(query_of(project, at(-60), at(120)))) == EXPECTED


def test_mode_filter_walks_each_modes_events_alone(post_batch, project):
    post(
        post_batch,
        [
            routed(at(0), "r1", mode="routing_first"),
            routed(at(1), "h1"),
            routed(at(2), "r2", mode="routing_first"),
            routed(at(2, 30), "h1"),
            routed(at(3), "r1", mode="routing_first"),
            routed(at(4), "r2", mode="routing_first"),
            routed(at(5), "h1"),
            checked(at(2), "p1", mode="routing_first"),
            checked(at(3), "p2"),  # no mode: unknown
            checked(at(4), "p1"),
        ],
    )
    rollups_advance()
    window = (at(-60), at(120))
    (rollout,) = rollouts_list(query_of(project, *window, mode="routing_first"))
    assert (rollout.version, rollout.from_version) == ("r2", "r1")
    assert (rollout.started_at, rollout.ended_at) == (at(2), at(3))
    assert (rollout.events, rollout.older_events) == (2, 1)  # h1 at 2:30 is another mode's
    assert rollouts_list(query_of(project, *window, mode="hybrid")) == []
    unknown = rollouts_list(query_of(project, *window, mode=""))  # unknown, as params pass it
    assert found(unknown) == [("policy:pii-filter", "p1", "p2", at(4), at(4), 1, 0)]
    # Unfiltered, the router's modes are one timeline.
    assert len(rollouts_list(query_of(project, *window))) > 1


def test_the_comparisons_maintainability_is_each_modes_rollouts(post_batch, project):
    post(
        post_batch,
        [
            routed(at(0), "r1", mode="routing_first"),
            routed(at(1), "h1"),
            routed(at(2), "r2", mode="routing_first"),
            routed(at(2, 30), "h1"),
            routed(at(3), "r1", mode="routing_first"),
            routed(at(4), "r2", mode="routing_first"),
            routed(at(5), "h2"),
            routed(at(6), "h1"),
            routed(at(7), "h2"),
            checked(at(3), "p2"),  # no mode: unknown
            checked(at(4), "p1"),
        ],
    )
    rollups_advance()
    window = (at(-60), at(120))
    rows = metrics_compare(query_of(project, *window)).rows
    assert [row.mode for row in rows] == ["routing_first", "hybrid", "unknown"]
    for row in rows:
        mode = "" if row.mode == "unknown" else row.mode  # as the API's params pass it
        assert row.maintainability == summary_of(
            rollouts_list(query_of(project, *window, mode=mode))
        )
    routing_first, hybrid, unknown = (row.maintainability for row in rows)
    assert routing_first and hybrid and unknown
    assert (routing_first.rollouts, routing_first.propagation_s.max) == (1, 60.0)
    assert (hybrid.rollouts, hybrid.mixed_version_share) == (1, 0.5)
    assert unknown.rollouts == 1
    assert all(
        row.maintainability is None
        for row in metrics_compare(query_of(project, *window), rollouts=False).rows
    )


def test_window_boundary_and_look_back(post_batch, project):
    post(post_batch, TIMELINE)
    rollups_advance()
    # From 10:00 the look-back finds v1 before the window: v2's rollout is listed, whole.
    assert found(rollouts_list(query_of(project, at(10), at(65)))) == EXPECTED[:2]
    # A window ending amid its stragglers still judges it on its whole 24 h.
    assert found(rollouts_list(query_of(project, at(-60), at(11)))) == EXPECTED[:1]
    # From 11:00 it started before the window: not listed.
    assert found(rollouts_list(query_of(project, at(11), at(65)))) == EXPECTED[1:2]
    # The rollback starts at 70:00 exactly: in [70, 71), not in [60, 70).
    assert found(rollouts_list(query_of(project, at(70), at(71)))) == EXPECTED[2:]
    assert rollouts_list(query_of(project, at(60), at(70))) == []


def test_an_older_version_after_the_straggler_window_is_a_rollback(post_batch, project):
    day = timedelta(hours=24)
    start = B - timedelta(hours=10)
    post(
        post_batch,
        [
            routed(start - timedelta(minutes=5), "v1"),
            routed(start, "v2"),
            routed(start + timedelta(hours=2), "v1"),  # a straggler: v2 answers later
            routed(start + timedelta(hours=3), "v2"),
            routed(start + day + timedelta(hours=1), "v2"),
            routed(start + day + timedelta(hours=2), "v1"),  # past v2's 24 h: a rollback
        ],
    )
    rollups_advance()
    rollouts = rollouts_list(query_of(project, start - timedelta(hours=1), start + 2 * day))
    assert [(r.version, r.from_version, r.started_at) for r in rollouts] == [
        ("v2", "v1", start),
        ("v1", "v2", start + day + timedelta(hours=2)),
    ]
    assert rollouts[0].propagation_s == 2 * 3600
    assert rollouts[0].mixed_version_share == 0.5  # v2 at the start, v1 2 h later


# --- The API ------------------------------------------------------------------------------


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


def _params(**more: str) -> dict[str, str]:
    return {"from": at(-60).isoformat(), "to": at(120).isoformat(), **more}


def test_api_json_and_csv(post_batch, project, read_client):
    post(post_batch, TIMELINE)
    rollups_advance()
    response = read_client.get("/api/v1/rollouts", _params())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["window"]["from"] == at(-60).isoformat()
    assert body["rows"][0] == {
        "project": project.name,
        "component": "router",
        "version": "v2",
        "from_version": "v1",
        "started_at": at(10, 15).isoformat(),
        "propagation_s": 110.0,
        "mixed_version_share": 0.5,
        "events": 4,
    }
    assert [row["component"] for row in body["rows"]] == [e[0] for e in EXPECTED]
    filtered = read_client.get("/api/v1/rollouts", _params(policy="pii-filter")).json()
    assert [row["version"] for row in filtered["rows"]] == ["p2"]
    assert filtered["window"]["filters"] == {"policy": "pii-filter"}

    sheet = read_client.get("/api/v1/rollouts", _params(format="csv"))
    assert sheet.status_code == 200 and sheet["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.content.decode())))
    assert [row["version"] for row in rows] == ["v2", "p2", "v1"]
    assert rows[0]["propagation_s"] == "110.0" and rows[0]["events"] == "4"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"mode": "sideways"}, "mode"),
        ({"from": "yesterday"}, "from"),
        ({"project": "nope"}, "project"),
        ({"format": "xml"}, "format"),
    ],
)
def test_api_bad_parameters_are_400_naming_the_field(read_client, params, field):
    response = read_client.get("/api/v1/rollouts", params)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_api_needs_a_read_key(project, post_batch, ingest_key):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/rollouts").status_code == 401
    ingesting = APIClient()
    ingesting.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key}")
    assert ingesting.get("/api/v1/rollouts").status_code == 403


def test_another_organization_sees_none_of_the_rollouts(post_batch, project):
    post(post_batch, TIMELINE)
    rollups_advance()
    other = ProjectFactory.create(
        organization=OrganizationFactory.create(name="globex"), name="support", matrix=True
    )
    _, raw = api_key_create(project=other, scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/rollouts", _params()).json()["rows"] == []
    named = client.get("/api/v1/rollouts", _params(project=project.name))
    assert named.status_code == 200 and named.json()["rows"] == []  # its own "support"
    assert client.get("/api/v1/rollouts", _params(project="elsewhere")).status_code == 400


# --- The migration ------------------------------------------------------------------------


def test_migration_backfills_what_the_job_folded(post_batch, project):
    post(post_batch, TIMELINE)
    rollups_advance()
    folded = _stored()
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("analytics", "0010_end_to_end_latency")])  # drops the table
    MigrationExecutor(connection).migrate(latest)  # makes and backfills it
    assert _stored() == folded
    assert found(rollouts_list(query_of(project, at(-60), at(120)))) == EXPECTED

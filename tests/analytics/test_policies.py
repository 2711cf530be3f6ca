"""Policies as a rolled-up dimension: `GET /api/v1/metrics/policies`, the `policy` filter and
`group_by=policy`, and the checks' own cost, against a plain recomputation over the raw events
posted, with late events, replays and rebuilds.

These tests commit (transactional): the rollup job only reads events of finished
transactions, as in production.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from analytics.rollups.job import rollups_advance
from analytics.rollups.rebuild import layer_rollups_rebuild_all, rollups_rebuild
from governance.models import Project
from governance.services import api_key_create
from tests.analytics.exact import exact_policies, nearest_rank
from tests.analytics.test_metrics import (
    NOW,
    START,
    exact_for,
    post_all,
    price_change_added,
    read_client_of,
    traffic,
)
from tests.conftest import enforcement_event
from tests.governance.factories import OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def priced_project(project) -> Project:
    return price_change_added(project)


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


MICRO = Decimal("0.000001")
WINDOWS = [
    (START, NOW),
    (NOW - timedelta(hours=7, minutes=13), NOW - timedelta(hours=2, minutes=47)),  # minute edges
]


def policy_traffic(seed: int) -> list[dict]:
    """The metrics tests' traffic, with reviews that overturn most of its blocks and modifies
    minutes to an hour later (naming the overturned check's policy), so every run has false
    positives, some of them in another hour than their check."""
    events = traffic(seed)
    rng = random.Random(seed)
    overturns = []
    for event in events:
        intercepted = event["type"] == "enforcement" and event["verdict"] in ("block", "modify")
        if intercepted and event["layer"] != "review" and rng.random() < 0.8:
            later = datetime.fromisoformat(event["timestamp"]) + timedelta(
                minutes=rng.uniform(1, 60)
            )
            overturns.append(
                enforcement_event(
                    request_id=event["request_id"],
                    timestamp=min(later, NOW - timedelta(minutes=1)).isoformat(),
                    layer="review",
                    policy=event["policy"],
                    verdict="allow",
                    false_positive=True,
                    check_latency_ms=round(rng.uniform(3, 10), 2),
                )
            )
    return events + overturns


def _policies(client: APIClient, start: datetime, end: datetime, **params: str) -> list[dict]:
    response = client.get(
        "/api/v1/metrics/policies", {"from": start.isoformat(), "to": end.isoformat(), **params}
    )
    assert response.status_code == 200, response.content
    return response.json()["rows"]


def check_policies(rows: list[dict], exact: dict[str, dict]) -> None:
    """The answer's rows are the recomputation's, figure by figure."""
    assert {row["policy"] for row in rows} == set(exact)
    for row in rows:
        truth = exact[row["policy"]]
        for name in ("checks", "blocks", "modifies", "flags", "false_positives", "layer"):
            assert row[name] == truth[name], (row["policy"], name)
        assert row["interception_rate"] == pytest.approx(
            (truth["blocks"] + truth["modifies"]) / truth["checks"], abs=1e-6
        )
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            assert row["check_latency_ms"][name] == pytest.approx(
                nearest_rank(truth["latencies"], q), rel=0.01
            ), (row["policy"], name)
        assert Decimal(row["check_cost_usd"]) == truth["cost"].quantize(MICRO), row["policy"]
    rates = [row["interception_rate"] for row in rows]
    assert rates == sorted(rates, reverse=True)  # the most intercepting first


@pytest.mark.parametrize("seed", [1, 2])
def test_policies_match_the_raw_events_with_late_events_and_replays(
    post_batch, priced_project, read_client, seed
):
    events = policy_traffic(seed)
    post_all(post_batch, events, random.Random(seed), roll_between=True)
    assert post_batch(events[:200]).json()["duplicates"] == 200  # a replay changes nothing
    assert post_batch(events[-20:]).json()["duplicates"] == 20  # late reviews replayed too
    rollups_advance()
    # Reviews that overturn a check name its policy: its false positives are on it.
    assert sum(bool(e.get("false_positive")) for e in events) >= 3

    for start, end in WINDOWS:
        exact = exact_policies(events, start=start, end=end, check_cost=Decimal(0))
        check_policies(_policies(read_client, start, end), exact)
    assert sum(row["false_positives"] for row in _policies(read_client, START, NOW)) == sum(
        bool(e.get("false_positive")) for e in events
    )


def test_the_project_check_cost_prices_checks_that_report_none_at_once(
    post_batch, priced_project, read_client
):
    events = traffic(5)
    post_all(post_batch, events, random.Random(5), roll_between=True)
    rollups_advance()
    checks = [e for e in events if e["type"] == "enforcement"]
    assert any("cost_usd" in e for e in checks) and any("cost_usd" not in e for e in checks)
    params = {"from": START.isoformat(), "to": NOW.isoformat()}
    summary_before = read_client.get("/api/v1/metrics/summary", params).json()

    # Projects that set no check cost: the checks cost what they reported, nothing more.
    reported = sum((Decimal(e["cost_usd"]) for e in checks if "cost_usd" in e), Decimal(0))
    rows = _policies(read_client, START, NOW)
    assert sum(Decimal(row["check_cost_usd"]) for row in rows) == pytest.approx(
        reported, abs=MICRO * len(rows)
    )

    # A check cost set now applies to every window at once, with no rollup run between.
    Project.objects.filter(pk=priced_project.pk).update(check_cost_usd=Decimal("0.0004"))
    for start, end in WINDOWS:
        exact = exact_policies(events, start=start, end=end, check_cost=Decimal("0.0004"))
        check_policies(_policies(read_client, start, end), exact)
    summary_after = read_client.get("/api/v1/metrics/summary", params).json()
    unreported = sum(1 for e in checks if "cost_usd" not in e)
    added = Decimal(summary_after["enforcement_cost_usd"]) - Decimal(
        summary_before["enforcement_cost_usd"]
    )
    assert added == (unreported * Decimal("0.0004")).quantize(MICRO)
    exact = exact_for(events, START, NOW)
    assert exact["enforcement_cost"] > 0
    assert Decimal(summary_before["enforcement_cost_usd"]) == exact["enforcement_cost"].quantize(
        MICRO
    )


def test_rebuilds_and_a_fresh_rollup_make_the_same_policy_rows(
    post_batch, priced_project, read_client
):
    events = policy_traffic(6)
    post_all(post_batch, events, random.Random(6), roll_between=True)
    rollups_advance()
    incremental = _policies(read_client, START, NOW)

    rollups_rebuild(project=priced_project, start=START, end=NOW + timedelta(hours=1))
    assert _policies(read_client, START, NOW) == incremental

    with connection.cursor() as cursor:  # everything again from scratch, in one go
        cursor.execute(
            "TRUNCATE analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
            "analytics_requestrollup, analytics_layerrollup"
        )
    rollups_advance()
    assert _policies(read_client, START, NOW) == incremental


def test_the_migration_splits_rollups_made_without_policies(
    post_batch, priced_project, read_client
):
    """Layer rollups as they were before policies (one row per layer, no cost) are rebuilt
    from the raw events into the rows the rollup job makes now."""
    events = policy_traffic(8)
    post_all(post_batch, events, random.Random(8), roll_between=True)
    rollups_advance()
    expected = _policies(read_client, START, NOW)
    layers = read_client.get(
        "/api/v1/metrics/layers", {"from": START.isoformat(), "to": NOW.isoformat()}
    ).json()["rows"]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE merged AS SELECT grain, bucket, project_id, service_id, "
            "environment, layer, sum(checks) AS checks, sum(blocks) AS blocks, "
            "sum(modifies) AS modifies, sum(flags) AS flags, sum(violations) AS violations, "
            "string_agg(check_latency_sketch, ''::bytea) AS sketch FROM analytics_layerrollup "
            "GROUP BY 1, 2, 3, 4, 5, 6"
        )
        cursor.execute("DELETE FROM analytics_layerrollup")
        cursor.execute(
            "INSERT INTO analytics_layerrollup (grain, bucket, project_id, service_id, "
            "environment, layer, policy, checks, blocks, modifies, flags, violations, "
            "false_positives, unreported_checks, reported_check_cost_usd, check_latency_sketch) "
            "SELECT grain, bucket, project_id, service_id, environment, layer, '(unrecorded)', "
            "checks, blocks, modifies, flags, violations, 0, checks, 0, sketch FROM merged"
        )
        cursor.execute("DROP TABLE merged")
    assert [row["policy"] for row in _policies(read_client, START, NOW)] == ["(unrecorded)"]

    assert layer_rollups_rebuild_all() > 0
    assert _policies(read_client, START, NOW) == expected
    assert (
        read_client.get(
            "/api/v1/metrics/layers", {"from": START.isoformat(), "to": NOW.isoformat()}
        ).json()["rows"]
        == layers
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_layerrollup WHERE policy = '(unrecorded)'")
        assert cursor.fetchone() == (0,)


def test_policy_filter_and_group_by(post_batch, priced_project, read_client):
    events = policy_traffic(9)  # with reviews naming the policies they overturn
    post_all(post_batch, events, random.Random(9), roll_between=False)
    rollups_advance()
    params = {"from": START.isoformat(), "to": NOW.isoformat()}
    checks = [e for e in events if e["type"] == "enforcement"]
    policy = max({e["policy"] for e in checks}, key=lambda p: sum(e["policy"] == p for e in checks))
    mine = [e for e in checks if e["policy"] == policy]

    # The filter narrows checks: the policy table, the layers and the check series.
    (row,) = _policies(read_client, START, NOW, policy=policy)
    own = [e for e in mine if e["layer"] != "review"] or mine  # reviews naming it overturn it
    assert row["policy"] == policy and row["checks"] == len(own)
    layers = read_client.get("/api/v1/metrics/layers", {**params, "policy": policy}).json()
    assert sum(layer["checks"] for layer in layers["rows"]) == len(mine)
    assert layers["window"]["filters"]["policy"] == policy
    # Requests and attempts carry no policy: their figures stay whole, as model and mode
    # leave checks whole.
    summary = read_client.get("/api/v1/metrics/summary", params).json()
    filtered = read_client.get("/api/v1/metrics/summary", {**params, "policy": policy}).json()
    assert filtered["requests"] == summary["requests"]
    assert filtered["attempts"] == summary["attempts"]
    # ... the enforcement cost too: one policy's checks are not blended with every request's
    # interceptions.
    assert filtered["enforcement_cost_usd"] == summary["enforcement_cost_usd"]
    assert filtered["roi"] == summary["roi"]
    assert _policies(read_client, START, NOW, policy="no-such-policy") == []

    series = read_client.get(
        "/api/v1/metrics/timeseries",
        {**params, "metric": "checks", "interval": "hour", "group_by": "policy"},
    ).json()["rows"]
    # A policy's own checks, as the table counts them: the reviews naming a pre-delivery
    # policy are its false positives, not checks.
    pre_delivery = {e["policy"] for e in checks if e["layer"] != "review"}
    assert any(e["layer"] == "review" and e["policy"] in pre_delivery for e in checks)
    expected: dict[tuple[str, str], int] = {}
    for event in checks:
        if event["layer"] == "review" and event["policy"] in pre_delivery:
            continue
        hour = datetime.fromisoformat(event["timestamp"]).astimezone(UTC)
        key = (hour.replace(minute=0, second=0, microsecond=0).isoformat(), event["policy"])
        expected[key] = expected.get(key, 0) + 1
    assert {(point["time"], point["group"]): point["value"] for point in series} == expected
    rates = read_client.get(
        "/api/v1/metrics/timeseries",
        {**params, "metric": "layer_interception_rate", "interval": "day", "group_by": "policy"},
    ).json()["rows"]
    assert {point["group"] for point in rates} == {e["policy"] for e in checks}
    table = {row["policy"]: row for row in _policies(read_client, START, NOW)}
    by_day: dict[str, list[float]] = {}
    for point in rates:
        by_day.setdefault(point["group"], []).append(point["value"])
    for policy, values in by_day.items():
        if len(values) == 1:  # one day: the series' rate is the table's
            assert values[0] == table[policy]["interception_rate"], policy


def test_bad_policy_parameters_are_400s_naming_the_field(priced_project, read_client):
    too_long = read_client.get("/api/v1/metrics/policies", {"policy": "p" * 101})
    assert too_long.status_code == 400
    assert too_long.json()["field"] == "policy"
    not_grouped = read_client.get(
        "/api/v1/metrics/timeseries", {"metric": "attempts", "group_by": "policy"}
    )
    assert not_grouped.status_code == 400
    assert not_grouped.json()["field"] == "group_by"
    nul = read_client.get("/api/v1/metrics/policies", {"policy": "a\x00b"})
    assert nul.status_code == 400 and nul.json()["field"] == "policy"


def test_empty_window_csv_and_schema(post_batch, priced_project, read_client):
    empty = read_client.get("/api/v1/metrics/policies")
    assert empty.status_code == 200 and empty.json()["rows"] == []
    assert set(empty.json()["window"]) >= {"from", "to"}

    post_batch(
        [
            enforcement_event(policy="output_safety", verdict="block", cost_usd="0.00125"),
            enforcement_event(policy="output_safety", verdict="allow"),
        ]
    )
    rollups_advance()
    csv = read_client.get("/api/v1/metrics/policies", {"format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    header, line = csv.content.decode().splitlines()[:2]
    assert header.split(",") == [
        "policy", "layer", "checks", "blocks", "modifies", "flags", "interception_rate",
        "false_positives", "check_latency_ms.p50", "check_latency_ms.p95", "check_cost_usd",
    ]  # fmt: skip
    assert line.startswith("output_safety,preprocess,2,1,0,0,0.5,0,")
    assert line.endswith(",0.001250")
    schema = read_client.get("/api/schema/", {"format": "json"})
    if schema.status_code == 200:  # the schema may be for signed-in users only
        assert "/api/v1/metrics/policies" in schema.json()["paths"]


def test_a_negative_check_cost_is_rejected_naming_the_field(post_batch, priced_project):
    response = post_batch([enforcement_event(cost_usd="-0.01"), enforcement_event()])
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["field"] == "cost_usd" and error["index"] == 0


def test_another_organization_sees_none_of_the_policies(post_batch, priced_project):
    post_batch([enforcement_event(policy="output_safety", verdict="block")])
    rollups_advance()
    other = ProjectFactory.create(
        organization=OrganizationFactory.create(name="globex"), name="support", matrix=True
    )
    _, raw = api_key_create(project=other, scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/metrics/policies").json()["rows"] == []
    assert client.get("/api/v1/metrics/policies", {"policy": "output_safety"}).json()["rows"] == []
    named = client.get("/api/v1/metrics/policies", {"project": priced_project.name})
    assert named.status_code == 200 and named.json()["rows"] == []  # its own "support"
    assert client.get("/api/v1/metrics/policies", {"project": "nope"}).status_code == 400

"""Every metric of the API against an exact computation over the raw events posted.

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
from governance.models import ModelPrice
from governance.services import api_key_create
from tests.analytics.exact import PriceRow, exact_summary, nearest_rank
from tollgate.demo.traffic import SCENARIOS, scenario_events

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=10)
PRICE_CHANGE = NOW - timedelta(hours=5, minutes=17)
REFERENCE_PRICES = [
    PriceRow("gpt-5.4", datetime(2026, 1, 1, tzinfo=UTC), Decimal("0.007"), Decimal("0.007")),
    PriceRow(
        "claude-opus-4.6", datetime(2026, 1, 1, tzinfo=UTC), Decimal("0.012"), Decimal("0.012")
    ),
    PriceRow(
        "gemini-3.1-pro", datetime(2026, 1, 1, tzinfo=UTC), Decimal("0.005"), Decimal("0.005")
    ),
    PriceRow("gpt-5.4", PRICE_CHANGE, Decimal("0.006"), Decimal("0.008")),
]


def traffic(seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = list(
        scenario_events(
            SCENARIOS["customer_service"],
            start=START,
            end=NOW - timedelta(minutes=1),
            requests=300,
            rng=rng,
        )
    )
    for event in events:  # variety the scenario does not make by itself
        if event["type"] != "routing":
            if rng.random() < 0.3:  # a check that reports its own cost (an LLM judge)
                event["cost_usd"] = f"{rng.uniform(0, 0.002):.8f}"
            continue
        roll = rng.random()
        if roll < 0.05:
            event["model"], event["provider"] = "mystery-model", "mystery-lab"
        elif roll < 0.10:
            event["cost_usd"] = f"{rng.uniform(0, 0.05):.8f}"
        elif roll < 0.15:
            event["cache_read_tokens"] = event["input_tokens"] // 2
    return events


@pytest.fixture
def read_client(project) -> APIClient:
    return read_client_of(project)


def read_client_of(project) -> APIClient:
    """An API client with a read key of the project."""
    _, raw = api_key_create(project=project, scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def priced_project(project):
    return price_change_added(project)


def price_change_added(project):
    """The project with gpt-5.4's price changed at PRICE_CHANGE (REFERENCE_PRICES)."""
    model = project.matrix_models.get(name="gpt-5.4")
    ModelPrice.objects.create(
        model=model,
        effective_from=PRICE_CHANGE,
        input_per_1k=Decimal("0.006"),
        output_per_1k=Decimal("0.008"),
    )
    return project


def post_all(post_batch, events: list[dict], rng: random.Random, *, roll_between: bool) -> None:
    """Post in shuffled batches, enforcement before routing for some requests (late events)."""
    order = sorted(events, key=lambda e: (e["type"] == "routing", rng.random()))
    for position in range(0, len(order), 250):
        response = post_batch(order[position : position + 250])
        assert response.status_code == 200, response.content
        if roll_between:
            rollups_advance()


def check_summary(summary: dict, exact: dict) -> None:
    assert summary["requests"] == exact["requests"]
    assert summary["attempts"] == exact["attempts"]
    assert summary["unpriced_attempts"] == exact["unpriced"]
    assert summary["error_rate"] == pytest.approx(exact["errors"] / exact["attempts"], abs=1e-6)
    assert summary["availability"] == pytest.approx(exact["served"] / exact["attempted"], abs=1e-6)
    assert Decimal(summary["cost_usd"]) == exact["cost"].quantize(Decimal("0.000001"))
    assert summary["tokens"] == {"input": exact["input_tokens"], "output": exact["output_tokens"]}
    per_1k = exact["cost"] * 1000 / exact["requests"]
    assert Decimal(summary["cost_per_1k_requests_usd"]) == per_1k.quantize(Decimal("0.000001"))
    assert summary["routing_latency_ms"]["p95"] == pytest.approx(
        nearest_rank(exact["routing_latencies"], 0.95), rel=0.01
    )
    requests = exact["requests"]
    for key, name in [
        ("interception_rate", "intercepted"),
        ("block_rate", "blocked"),
        ("modify_rate", "modified"),
        ("violation_rate", "escaped"),
        ("detected_violation_rate", "detected"),
    ]:
        assert summary[key] == pytest.approx(exact[name] / requests, abs=1e-6), key
    assert summary["catch_rate"] == pytest.approx(exact["caught"] / exact["detected"], abs=1e-6)
    assert summary["false_positive_rate"] == pytest.approx(
        exact["false_positive"] / exact["intercepted"], abs=1e-6
    )
    assert Decimal(summary["enforcement_cost_usd"]) == exact["enforcement_cost"].quantize(
        Decimal("0.000001")
    )
    assert Decimal(summary["baseline_cost_usd"]) == exact["baseline"].quantize(Decimal("0.000001"))
    assert Decimal(summary["routing_savings_usd"]) == exact["savings"].quantize(Decimal("0.000001"))
    gains = exact["savings"]
    assert summary["savings_multiple"] == pytest.approx(
        float(gains / exact["enforcement_cost"]), rel=1e-5
    )
    assert summary["roi"] == pytest.approx(
        float((gains - exact["enforcement_cost"]) / exact["enforcement_cost"]), rel=1e-5
    )
    for name, q in [("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)]:
        truth = nearest_rank(exact["latencies"], q)
        assert summary["latency_ms"][name] == pytest.approx(truth, rel=0.01), name
    mean = sum(exact["latencies"]) / len(exact["latencies"])
    assert summary["latency_ms"]["mean"] == pytest.approx(
        mean, abs=0.0005
    )  # shown to the microsecond
    for name, q in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)]:
        assert summary["overhead_ms"][name] == pytest.approx(
            nearest_rank(exact["overheads"], q), rel=0.01
        ), name


def exact_for(events, start, end):
    return exact_summary(
        events,
        start=start,
        end=end,
        prices=REFERENCE_PRICES,
        baseline_model="claude-opus-4.6",
        interception_cost=Decimal("0.002"),
        correction_cost=Decimal("0.005"),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_summary_matches_the_raw_events_with_late_events_and_replays(
    post_batch, priced_project, read_client, seed
):
    events = traffic(seed)
    rng = random.Random(seed)
    post_all(post_batch, events, rng, roll_between=True)
    assert post_batch(events[:200]).json()["duplicates"] == 200  # a replay changes nothing
    rollups_advance()

    windows = [
        (START, NOW),
        (
            NOW - timedelta(hours=7, minutes=13),
            NOW - timedelta(hours=2, minutes=47),
        ),  # minute edges
    ]
    for start, end in windows:
        response = read_client.get(
            "/api/v1/metrics/summary", {"from": start.isoformat(), "to": end.isoformat()}
        )
        assert response.status_code == 200, response.content
        check_summary(response.json(), exact_for(events, start, end))


def test_arrival_order_does_not_change_the_rollups(post_batch, priced_project, read_client):
    events = traffic(7)
    post_all(post_batch, events, random.Random(1), roll_between=True)
    rollups_advance()
    incremental = read_client.get(
        "/api/v1/metrics/summary", {"from": START.isoformat(), "to": NOW.isoformat()}
    ).json()

    from django.db import connection

    with connection.cursor() as cursor:  # rebuild everything from scratch, in one go
        cursor.execute(
            "TRUNCATE analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
            "analytics_requestrollup, analytics_layerrollup"
        )
    rollups_advance()
    rebuilt = read_client.get(
        "/api/v1/metrics/summary", {"from": START.isoformat(), "to": NOW.isoformat()}
    ).json()
    assert incremental == rebuilt


def test_models_and_layers_tables(post_batch, priced_project, read_client):
    events = traffic(3)
    post_all(post_batch, events, random.Random(3), roll_between=False)
    rollups_advance()
    params = {"from": START.isoformat(), "to": NOW.isoformat()}

    models = read_client.get("/api/v1/metrics/models", params).json()["rows"]
    attempts = [e for e in events if e["type"] == "routing"]
    by_model = {row["model"]: row for row in models}
    for model in {e["model"] for e in attempts}:
        mine = [e for e in attempts if e["model"] == model]
        row = by_model[model]
        assert row["attempts"] == len(mine)
        assert row["share"] == pytest.approx(len(mine) / len(attempts), abs=1e-6)
        assert row["error_rate"] == pytest.approx(
            sum(e["status"] != "ok" for e in mine) / len(mine), abs=1e-6
        )
        assert row["latency_ms"]["p95"] == pytest.approx(
            nearest_rank([e["latency_ms"] for e in mine], 0.95), rel=0.01
        )
    assert by_model["mystery-model"]["cost_usd"] == "0.000000"
    assert by_model["mystery-model"]["unpriced_attempts"] == by_model["mystery-model"]["attempts"]

    layers = {
        row["layer"]: row
        for row in read_client.get("/api/v1/metrics/layers", params).json()["rows"]
    }
    checks = [e for e in events if e["type"] == "enforcement"]
    assert sum(row["checks"] for row in layers.values()) == len(checks)
    for layer, row in layers.items():
        mine = [e for e in checks if e["layer"] == layer]
        assert row["checks"] == len(mine)
        assert row["blocks"] == sum(e["verdict"] == "block" for e in mine)
        assert row["modifies"] == sum(e["verdict"] == "modify" for e in mine)
        if mine:
            assert row["check_latency_ms"]["p50"] == pytest.approx(
                nearest_rank([e["check_latency_ms"] for e in mine], 0.5), rel=0.01
            )


def test_timeseries_and_drift(post_batch, priced_project, read_client):
    events = traffic(4)
    post_all(post_batch, events, random.Random(4), roll_between=False)
    rollups_advance()
    params = {"from": START.isoformat(), "to": NOW.isoformat()}

    series = read_client.get(
        "/api/v1/metrics/timeseries",
        {**params, "metric": "attempts", "interval": "hour", "group_by": "model"},
    ).json()["rows"]
    attempts = [e for e in events if e["type"] == "routing"]
    expected: dict[tuple[str, str], int] = {}
    for event in attempts:
        hour = (
            datetime.fromisoformat(event["timestamp"])
            .astimezone(UTC)
            .replace(minute=0, second=0, microsecond=0)
        )
        key = (hour.isoformat(), event["model"])
        expected[key] = expected.get(key, 0) + 1
    assert {(point["time"], point["group"]): point["value"] for point in series} == expected

    drift = read_client.get("/api/v1/drift", params).json()["rows"][0]
    nonfallback = [e for e in attempts if not e.get("fallback_from")]
    actual = {
        m: sum(e["model"] == m for e in nonfallback) / len(nonfallback)
        for m in {e["model"] for e in nonfallback}
    }
    expected_shares = {"gpt-5.4": 0.8, "claude-opus-4.6": 0.2}
    import math

    psi = sum(
        (max(actual.get(m, 0), 1e-4) - max(expected_shares.get(m, 0), 1e-4))
        * math.log(max(actual.get(m, 0), 1e-4) / max(expected_shares.get(m, 0), 1e-4))
        for m in set(actual) | set(expected_shares)
    )
    assert drift["psi"] == pytest.approx(psi, abs=1e-6)
    bands = [
        (0, 30, "gpt-5.4"),
        (30, 60, "claude-opus-4.6"),
        (60, 90, "gemini-3.1-pro"),
        (90, 100, "claude-opus-4.6"),
    ]

    def band_model(score: float) -> str:
        for low, high, model in bands:
            if low <= score < high or (high == 100 and score == 100):
                return model
        raise AssertionError(score)

    conforming = sum(band_model(e["complexity_score"]) == e["model"] for e in nonfallback)
    assert drift["conformance"] == pytest.approx(conforming / len(nonfallback), abs=1e-6)


def test_empty_window_answers_zeros_and_nulls(priced_project, read_client):
    summary = read_client.get("/api/v1/metrics/summary").json()
    assert summary["requests"] == summary["attempts"] == 0
    assert summary["cost_usd"] == "0.000000"
    assert summary["error_rate"] is None and summary["roi"] is None
    assert summary["latency_ms"]["p95"] is None


@pytest.mark.parametrize(
    ("table", "measures"),
    [
        ("analytics_attemptrollup", "attempts, errors, fallbacks, cost_usd, baseline_cost_usd"),
        ("analytics_requestrollup", "requests, served, intercepted, caught, escaped"),
        (
            "analytics_layerrollup",
            "checks, blocks, modifies, violations, false_positives, unreported_checks, "
            "reported_check_cost_usd",
        ),
    ],
)
def test_hour_and_day_rows_add_up_to_the_minute_rows(post_batch, priced_project, table, measures):
    """Every grain gets the same deltas; late events and replays must leave them agreeing."""
    events = traffic(3)
    post_all(post_batch, events, random.Random(3), roll_between=True)
    rollups_advance()
    sums = ", ".join(f"sum({name})" for name in measures.split(", "))
    per_day = f"SELECT date_trunc('day', bucket), {sums} FROM {table} WHERE grain = %s "  # noqa: S608
    by_hour = f"SELECT date_trunc('hour', bucket), {sums} FROM {table} WHERE grain = %s "  # noqa: S608
    with connection.cursor() as cursor:
        per_grain = {}
        for grain in ("m", "h", "d"):
            cursor.execute(per_day + "GROUP BY 1 ORDER BY 1", [grain])
            per_grain[grain] = cursor.fetchall()
        cursor.execute(f"{by_hour} GROUP BY 1 EXCEPT {by_hour} GROUP BY 1", ["m", "h"])
        assert cursor.fetchall() == []
    assert per_grain["m"] and per_grain["m"] == per_grain["h"] == per_grain["d"]

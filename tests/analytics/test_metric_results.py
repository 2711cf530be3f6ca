"""The metric queries' typed results: money is Decimal to the micro-dollar, rates are floats
or None, counts are ints, results are frozen; and the API's answer of a result is the dict
(and the JSON) the API has always given."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from analytics.api.answers import (
    budget_answer,
    drift_answer,
    layer_answer,
    model_answer,
    point_answer,
    spend_answer,
    summary_answer,
)
from analytics.metrics.breakdowns import metrics_models, metrics_spend
from analytics.metrics.budgets import BudgetStatus
from analytics.metrics.query import MetricsQuery, cost_per_1k, money, rate
from analytics.metrics.results import (
    Drift,
    Latency,
    LayerRow,
    MixShare,
    ModelRow,
    SeriesPoint,
    SpendRow,
    Summary,
)
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from analytics.models import Repricing
from analytics.rollups.job import rollups_advance
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import BudgetFactory

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def test_money_is_decimal_to_the_micro_dollar_as_answers_print_it():
    assert money(12_345_678) == Decimal("0.123457")  # 1e-8 USD units
    assert str(money(0)) == "0.000000"
    assert str(money(Decimal("1.5"))) == "1.500000"
    assert cost_per_1k(700_000, 1) == Decimal("7.000000")
    assert cost_per_1k(700_000, 0) is None
    assert rate(1, 3) == 0.333333 and rate(1, 0) is None


def test_results_are_frozen():
    share = MixShare(model="gpt-5.4", share=0.5, expected_share=0.8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        share.share = 0.6  # type: ignore[misc]


@pytest.mark.django_db(transaction=True)
def test_a_summary_carries_decimal_money_float_rates_and_int_counts(post_batch, project):
    at = (NOW - timedelta(minutes=10)).isoformat()
    events = [routing_event(timestamp=at, request_id=f"r-{i}") for i in range(4)]
    events.append(enforcement_event(timestamp=at, request_id="r-0", verdict="block"))
    assert post_batch(events).json()["accepted"] == len(events)
    rollups_advance(max_seconds=float("inf"))
    query = MetricsQuery(window=Window.of(NOW - timedelta(hours=1), NOW), projects=(project,))

    summary = metrics_summary(query)
    assert (summary.requests, summary.attempts) == (4, 4)
    assert type(summary.requests) is int and type(summary.input_tokens) is int
    money_fields = (
        *("cost_usd", "cost_per_1k_requests_usd", "enforcement_cost_usd"),
        "enforcement_cost_per_1k_requests_usd",
        *("baseline_cost_usd", "routing_savings_usd", "error_cost_savings_usd"),
    )
    for name in money_fields:
        value = getattr(summary, name)
        assert isinstance(value, Decimal), name
        assert value.as_tuple().exponent == -6, name  # six places, as the API prints it
    assert isinstance(summary.interception_rate, float)
    assert summary.interception_rate == 0.25 and summary.block_rate == 0.25
    assert summary.catch_rate is None  # no violation detected: a rate of nothing
    assert isinstance(summary.latency_ms.p95, float) and summary.overhead_ms.mean is None

    (row,) = metrics_models(query)
    assert isinstance(row.cost_usd, Decimal) and row.share == 1.0
    (spent,) = metrics_spend(query, by="project")
    assert spent.name == project.name and spent.cost_usd == summary.cost_usd


def _summary() -> Summary:
    empty = Latency()
    return Summary(
        requests=4,
        attempts=5,
        error_rate=0.2,
        availability=1.0,
        latency_ms=Latency(p50=100.0, p75=110.5, p90=120.0, p95=130.0, p99=140.0, mean=105.25),
        routing_latency_ms=empty,
        overhead_ms=Latency(p50=8.44, p95=9.0, p99=9.5),
        end_to_end_ms=Latency(p50=150.5, p95=170.0, p99=180.25),
        cost_usd=Decimal("0.035000"),
        cost_per_1k_requests_usd=Decimal("8.750000"),
        unpriced_attempts=1,
        input_tokens=1200,
        output_tokens=300,
        interception_rate=0.25,
        block_rate=0.25,
        modify_rate=0.0,
        violation_rate=0.0,
        detected_violation_rate=None,
        catch_rate=None,
        false_positive_rate=0.0,
        enforcement_cost_usd=Decimal("0.002000"),
        enforcement_cost_per_1k_requests_usd=Decimal("0.500000"),
        baseline_cost_usd=Decimal("0.060000"),
        routing_savings_usd=Decimal("0.025000"),
        error_cost_savings_usd=Decimal("0.000000"),
        roi=11.5,
        savings_multiple=12.5,
    )


@pytest.mark.django_db
def test_the_summary_answer_is_the_apis_dict(project):
    Repricing.objects.create(project=project, reason="price added")
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    query = MetricsQuery(
        window=Window(start, start + timedelta(hours=7)),
        projects=(project,),
        applied={"project": project.name},
    )
    answer = summary_answer(_summary(), query)
    assert answer == {
        "window": {
            "from": "2026-12-01T09:00:00+00:00",
            "to": "2026-12-01T16:00:00+00:00",
            "filters": {"project": project.name},
            "repricing": [{"project": project.name, "reason": "price added", "progress": 0.0}],
        },
        "requests": 4,
        "attempts": 5,
        "error_rate": 0.2,
        "availability": 1.0,
        "latency_ms": {
            "p50": 100.0,
            "p75": 110.5,
            "p90": 120.0,
            "p95": 130.0,
            "p99": 140.0,
            "mean": 105.25,
        },
        "routing_latency_ms": {
            "p50": None,
            "p75": None,
            "p90": None,
            "p95": None,
            "p99": None,
            "mean": None,
        },
        "overhead_ms": {"p50": 8.44, "p95": 9.0, "p99": 9.5},
        "end_to_end_ms": {"p50": 150.5, "p95": 170.0, "p99": 180.25},
        "cost_usd": "0.035000",
        "cost_per_1k_requests_usd": "8.750000",
        "unpriced_attempts": 1,
        "tokens": {"input": 1200, "output": 300},
        "interception_rate": 0.25,
        "block_rate": 0.25,
        "modify_rate": 0.0,
        "violation_rate": 0.0,
        "detected_violation_rate": None,
        "catch_rate": None,
        "false_positive_rate": 0.0,
        "enforcement_cost_usd": "0.002000",
        "enforcement_cost_per_1k_requests_usd": "0.500000",
        "baseline_cost_usd": "0.060000",
        "routing_savings_usd": "0.025000",
        "error_cost_savings_usd": "0.000000",
        "roi": 11.5,
        "savings_multiple": 12.5,
    }
    # The key order is the answer's too: JSON clients and the CSV's columns follow it.
    assert list(answer) == list(json.loads(JSONRenderer().render(answer)))


def test_table_rows_answer_as_the_api_always_did():
    model = ModelRow(
        model="gpt-5.4",
        provider="openai",
        attempts=3,
        share=0.75,
        cost_usd=Decimal("0.021000"),
        unpriced_attempts=0,
        latency_ms=Latency(p50=1.0, p75=2.0, p90=3.0, p95=4.0, p99=5.0, mean=None),
        error_rate=None,
    )
    assert JSONRenderer().render(model_answer(model)) == (
        b'{"model":"gpt-5.4","provider":"openai","attempts":3,"share":0.75,"cost_usd":"0.021000",'
        b'"unpriced_attempts":0,"latency_ms":{"p50":1.0,"p75":2.0,"p90":3.0,"p95":4.0,'
        b'"p99":5.0,"mean":null},"error_rate":null}'
    )
    spend = SpendRow(
        name="support",
        attempts=2,
        requests=0,
        cost_usd=Decimal("0.000000"),
        cost_per_1k_requests_usd=None,
        unpriced_attempts=2,
    )
    assert spend_answer(spend, by="project") == {
        "project": "support",
        "attempts": 2,
        "requests": 0,
        "cost_usd": "0.000000",
        "cost_per_1k_requests_usd": None,
        "unpriced_attempts": 2,
    }
    layer = LayerRow(
        layer="review",
        checks=0,
        blocks=0,
        modifies=0,
        interception_rate=None,
        check_latency_ms=Latency(p50=None, p95=None),
    )
    assert layer_answer(layer)["check_latency_ms"] == {"p50": None, "p95": None}


def test_series_points_and_drift_answer_as_the_api_always_did():
    moment = datetime(2026, 12, 1, 12, tzinfo=UTC)
    money_point = SeriesPoint(time=moment, group="gpt-5.4", value=Decimal("0.126000"))
    assert point_answer(money_point, grouped=True) == {
        "time": "2026-12-01T12:00:00+00:00",
        "group": "gpt-5.4",
        "value": "0.126000",
    }
    count_point = SeriesPoint(time=moment, group=None, value=7)
    assert point_answer(count_point, grouped=False) == {
        "time": "2026-12-01T12:00:00+00:00",
        "value": 7,
    }
    drift = Drift(
        project="search",
        psi=0.701963,
        status="drifted",
        reference="expected_shares",
        conformance=None,
        nonfallback_attempts=9,
        mix=(MixShare(model="gpt-5.4", share=0.333333, expected_share=0.8),),
    )
    assert drift_answer(drift) == {
        "project": "search",
        "psi": 0.701963,
        "status": "drifted",
        "reference": "expected_shares",
        "conformance": None,
        "nonfallback_attempts": 9,
        "mix": [{"model": "gpt-5.4", "share": 0.333333, "expected_share": 0.8}],
    }


@pytest.mark.django_db
def test_a_budget_answers_its_money_to_six_places(project):
    budget = BudgetFactory.create(
        project=project, name="support monthly", amount_usd=Decimal("1.00")
    )
    start = datetime(2026, 12, 1, tzinfo=UTC)
    burn = BudgetStatus(
        budget=budget,
        period_start=start,
        period_end=datetime(2027, 1, 1, tzinfo=UTC),
        spent=Decimal("0.35712345"),
        run_rate_per_day=Decimal("0.1"),
        forecast=Decimal("3.1"),
        percent=35.712345,
    )
    assert budget_answer(burn) == {
        "id": budget.pk,
        "name": "support monthly",
        "project": project.name,
        "scope": budget.scope_label,
        "period": "month",
        "period_start": "2026-12-01T00:00:00+00:00",
        "period_end": "2027-01-01T00:00:00+00:00",
        "amount_usd": "1.000000",
        "spent_usd": "0.357123",
        "run_rate_usd_per_day": "0.100000",
        "forecast_usd": "3.100000",
        "percent": 35.7123,
        "status": "forecast_to_exceed",
        "thresholds": budget.thresholds,
        "thresholds_crossed": [],
    }

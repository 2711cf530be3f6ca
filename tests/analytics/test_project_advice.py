"""A project's advice (DESIGN.md "Architecture comparison and advice"): the measured mode of
most requests (ties to the recommended mode, else the comparison's order), the layers checks
were seen at, and every finding with a message that says what is wrong: no profile, a mode
that is not the recommended one, too few layers, and each judged figure above and below the
article's reference for the measured mode."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from analytics.metrics.advice import (
    FIGURE_FINDINGS,
    Measured,
    advice_findings,
    advice_recommend,
    project_advice,
)
from analytics.metrics.query import MetricsQuery
from analytics.metrics.reference import REFERENCE, positions
from analytics.metrics.results import (
    CompareRow,
    Latency,
    MigrationTimes,
    ModeCost,
    ModeLatency,
    ModeObservability,
    ModeReliability,
    ModeSecurity,
    ModeTraffic,
    RolloutsSummary,
    Spread,
)
from analytics.metrics.window import Window
from analytics.rollups.job import rollups_advance
from governance.models import ADVICE_FIGURES, ADVICE_FINDINGS, ProjectProfile
from tests.analytics.test_metrics import NOW
from tests.conftest import enforcement_event, routing_event

HIGH_RISK = {"precision": "high", "compliance": "strong"}  # enforcement_first, 5-7 layers
ROUTING = {"traffic_pattern": "fixed", "cost_sensitivity": "high"}  # routing_first, 1-3
TYPICAL = {  # a figure of each judged kind inside every mode's reference (or none)
    "latency_p50_ms": 160.0,
    "latency_p95_ms": 290.0,
    "latency_p99_ms": 440.0,
    "error_rate": None,
    "violation_rate": None,
    "availability": None,  # the modes' references (99.9-99.99%) share no value within 10%
    "migration_time_s": None,
    "savings_share": None,
}


def _row(mode: str, **figures: float | None) -> CompareRow:
    """A compare row of `mode` whose judged figures are TYPICAL but for `figures`."""
    reference, position = positions(mode, {**TYPICAL, **figures})
    none = Latency()
    return CompareRow(
        mode=mode,
        traffic=ModeTraffic(100, 100, (), None, none),
        latency=ModeLatency(none, none, none),
        cost=ModeCost(
            cost_usd=Decimal(0),
            cost_per_1k_requests_usd=None,
            baseline_cost_usd=Decimal(0),
            routing_savings_usd=Decimal(0),
            routing_savings_share=None,
            enforcement_cost_usd=Decimal(0),
            enforcement_cost_per_1k_requests_usd=None,
            roi=None,
            savings_multiple=None,
        ),
        security=ModeSecurity(None, None, None, None, None, None, None),
        reliability=ModeReliability(None, None, MigrationTimes(0, None, None)),
        observability=ModeObservability(None),
        maintainability=RolloutsSummary(0, Spread(None, None), None),
        reference=reference,
        position=position,
    )


def _findings(mode: str, answers: dict[str, str], layers: int = 7, **figures: float | None):
    measured = Measured(mode=mode, share=1.0, layers_seen=layers, row=_row(mode, **figures))
    return {
        finding.code: finding.message
        for finding in advice_findings(advice_recommend(answers), measured, answered=bool(answers))
    }


def test_every_figure_of_governance_has_its_compare_figure():
    assert {code for code, _ in FIGURE_FINDINGS.values()} == set(ADVICE_FIGURES)
    for figure in FIGURE_FINDINGS:
        assert figure in {ref.figure for ref in REFERENCE["hybrid"]}


@pytest.mark.parametrize(
    ("figure", "value", "code", "says"),
    [
        ("error_rate", 0.025, "error_rate_above_reference", "error rate 2.50%, above the 0.1-0.5%"),
        (
            "error_rate",
            0.0005,
            "error_rate_below_reference",
            "error rate 0.05%, below the 0.1-0.5%",
        ),
        (
            "violation_rate",
            0.041,
            "violation_rate_above_reference",
            "escaped violations 4.10%, above the 0.01-0.1%",
        ),
        (
            "violation_rate",
            0.00005,
            "violation_rate_below_reference",
            "escaped violations 0.005%, below the 0.01-0.1%",
        ),
        # A single reference value: within 10% of it counts as matching (99.99% * 1.1 > 1).
        (
            "availability",
            0.85,
            "availability_below_reference",
            "availability 85.0%, below the 99.99%",
        ),
        (
            "latency_p95_ms",
            412.0,
            "latency_p95_above_reference",
            "latency P95 412 ms, above the 320 ms",
        ),
        (
            "latency_p95_ms",
            250.0,
            "latency_p95_below_reference",
            "latency P95 250 ms, below the 320 ms",
        ),
        (
            "migration_time_s",
            95.0,
            "migration_time_above_reference",
            "traffic migration time 95 s, above the 15-60 s",
        ),
        (
            "migration_time_s",
            9.0,
            "migration_time_below_reference",
            "traffic migration time 9 s, below the 15-60 s",
        ),
    ],
)
def test_a_figure_outside_the_reference_is_a_finding_that_names_it(figure, value, code, says):
    inside = {"latency_p95_ms": 320.0, "availability": 0.9999}  # enforcement_first's
    found = _findings("enforcement_first", HIGH_RISK, **{**inside, figure: value})
    assert found == {code: f"{says} the article gives for enforcement-first"}
    assert code in ADVICE_FINDINGS


def test_availability_above_its_reference_is_a_finding_too():
    """Availability's 10% is of the requests it leaves unserved: 99.95% is 99.945-99.955%."""
    found = _findings("hybrid", {"precision": "medium"}, layers=3, availability=1.0)
    assert found == {
        "availability_above_reference": (
            "availability 100.0%, above the 99.95% the article gives for hybrid"
        )
    }


def test_figures_within_or_without_a_value_are_no_finding():
    assert _findings("enforcement_first", HIGH_RISK, latency_p95_ms=320.0) == {}
    assert _findings("enforcement_first", HIGH_RISK, latency_p95_ms=None) == {}


def test_mode_mismatch_and_too_few_layers_say_what_the_profile_calls_for():
    found = _findings("hybrid", HIGH_RISK, layers=2)
    assert found == {
        "mode_mismatch": "your profile calls for enforcement-first and you run hybrid "
        "(100.0% of the window's requests)",
        "too_few_layers": "checks were seen at 2 layers; your profile calls for 5-7",
    }
    assert "too_few_layers" not in _findings("enforcement_first", HIGH_RISK, layers=5)
    assert _findings("enforcement_first", HIGH_RISK, layers=4) == {
        "too_few_layers": "checks were seen at 4 layers; your profile calls for 5-7"
    }
    # The override says why routing_first's votes were set aside.
    found = _findings("routing_first", {**ROUTING, "compliance": "strong"}, layers=5)
    assert found["mode_mismatch"] == (
        "your profile calls for hybrid (high-risk traffic must pass runtime checks) and you "
        "run routing-first (100.0% of the window's requests)"
    )


def test_without_answers_only_no_profile_and_the_figures_are_judged():
    found = _findings("hybrid", {}, layers=0, error_rate=0.5)
    assert list(found) == ["no_profile", "error_rate_above_reference"]


# --- Through the rollups ------------------------------------------------------------------

WINDOW = Window.of(NOW - timedelta(hours=1), NOW)


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def _traffic(mode: str, count: int, *, layers: tuple[str, ...] = (), minutes_ago: float = 5):
    events = []
    for index in range(count):
        request_id = f"{mode or 'none'}-{minutes_ago}-{index}"
        if mode:
            events.append(
                routing_event(request_id=request_id, mode=mode, timestamp=_at(minutes_ago))
            )
        for layer in layers:
            events.append(
                enforcement_event(request_id=request_id, layer=layer, timestamp=_at(minutes_ago))
            )
    return events


def _advise(post_batch, project, events, answers=None):
    if answers is not None:
        ProjectProfile.objects.create(project=project, **answers)
    if events:
        assert post_batch(events).json()["rejected"] == 0
        rollups_advance(max_seconds=float("inf"))
    return project_advice(MetricsQuery(window=WINDOW, projects=(project,)), project)


@pytest.mark.django_db(transaction=True)
def test_the_measured_mode_has_most_requests_with_its_compare_row(post_batch, project):
    events = _traffic("hybrid", 6, layers=("preprocess", "routing")) + _traffic(
        "enforcement_first", 4, layers=("verification",)
    )
    events += _traffic("routing_first", 9, layers=("review",), minutes_ago=90)  # before
    advice = _advise(post_batch, project, events, HIGH_RISK)
    assert advice.requests == 10
    assert advice.profile == HIGH_RISK
    assert advice.measured is not None
    assert (advice.measured.mode, advice.measured.share) == ("hybrid", 0.6)
    assert advice.measured.row.mode == "hybrid" and advice.measured.row.traffic.requests == 6
    # Distinct layers with checks in the window, whatever the mode: review was before it.
    assert advice.measured.layers_seen == 3
    codes = [finding.code for finding in advice.findings]
    assert codes[:2] == ["mode_mismatch", "too_few_layers"]
    assert codes == sorted(codes, key=ADVICE_FINDINGS.index)
    # A policy filter (the page's filter bar) narrows no layer out of the layers seen.
    narrowed = MetricsQuery(window=WINDOW, projects=(project,), policy="output_safety_v2")
    filtered = project_advice(narrowed, project).measured
    assert filtered is not None and filtered.layers_seen == 3
    # Read without rollouts (the page's cards, the rule), the same advice has no
    # maintainability figures.
    bare = project_advice(MetricsQuery(window=WINDOW, projects=(project,)), project, rollouts=False)
    assert bare.findings == advice.findings and bare.measured is not None
    assert bare.measured.row.maintainability is None


@pytest.mark.django_db(transaction=True)
def test_a_tie_goes_to_the_recommended_mode_else_the_comparisons_order(post_batch, project):
    events = _traffic("hybrid", 3) + _traffic("enforcement_first", 3)
    advice = _advise(post_batch, project, events, HIGH_RISK)  # recommends enforcement_first
    assert advice.measured is not None and advice.measured.mode == "enforcement_first"
    assert "mode_mismatch" not in {finding.code for finding in advice.findings}
    ProjectProfile.objects.filter(project=project).update(
        precision="", compliance="", **ROUTING
    )  # routing_first: not among the tied
    advice = project_advice(MetricsQuery(window=WINDOW, projects=(project,)), project)
    assert advice.measured is not None and advice.measured.mode == "enforcement_first"
    assert advice.holding(["mode_mismatch"])[0].message == (
        "your profile calls for routing-first and you run enforcement-first "
        "(50.0% of the window's requests)"
    )


@pytest.mark.django_db(transaction=True)
def test_requests_without_a_mode_can_be_the_measured_mode(post_batch, project):
    events = _traffic("", 3, layers=("preprocess",)) + _traffic("hybrid", 2)
    advice = _advise(post_batch, project, events, {"precision": "medium"})  # hybrid
    assert advice.measured is not None and advice.measured.mode == "unknown"
    assert [(finding.code, finding.message) for finding in advice.findings] == [
        (
            "mode_mismatch",
            "your profile calls for hybrid and most of your requests (60.0%) carry no mode",
        ),
        ("too_few_layers", "checks were seen at 1 layer; your profile calls for 3-5"),
    ]  # unknown has no reference: no figure is judged


@pytest.mark.django_db(transaction=True)
def test_no_profile_or_no_answer_is_a_finding_and_recommends_nothing(post_batch, project):
    advice = _advise(post_batch, project, _traffic("hybrid", 2))
    assert advice.profile is None and advice.recommendation.recommended_mode is None
    assert advice.findings[0].code == "no_profile"
    assert not advice.holding(["mode_mismatch", "too_few_layers"])
    ProjectProfile.objects.create(project=project)  # every question blank
    again = project_advice(MetricsQuery(window=WINDOW, projects=(project,)), project)
    assert again.profile is None and again.findings == advice.findings


@pytest.mark.django_db
def test_without_traffic_nothing_is_measured_and_only_the_profile_judged(post_batch, project):
    advice = _advise(post_batch, project, [], HIGH_RISK)
    assert (advice.requests, advice.measured, advice.findings) == (0, None, ())
    ProjectProfile.objects.filter(project=project).delete()
    advice = project_advice(MetricsQuery(window=WINDOW, projects=(project,)), project)
    assert [finding.code for finding in advice.findings] == ["no_profile"]

"""Charts that hold: latency on decades, rates on an axis fitted to the data, partial first and
last intervals marked, threshold labels that never overlap, and thresholds drawn only on charts
whose series is the rule's scope."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from analytics.dashboard import charts
from analytics.dashboard.charts.axes import LABEL_GAP, label_positions
from analytics.dashboard.charts.scales import fitted_rate_scale, log_scale, zero_scale
from analytics.dashboard.filters import selection_from
from analytics.dashboard.formatting import ms
from analytics.dashboard.series import partial_buckets
from analytics.dashboard.thresholds import active_rules, rule_thresholds
from analytics.formatting import percent
from governance.models import AlertKind
from tests.governance.factories import AlertRuleFactory, ProjectFactory

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(markup)  # noqa: S314  (our own markup, not input)


def test_log_scale_spans_whole_decades_with_1_2_5_ticks():
    scale = log_scale([180.0, 240.0, 9500.0])
    assert (scale.bottom, scale.top, scale.log) == (100.0, 10_000.0, True)
    assert scale.ticks == (100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0)
    # 240 ms and 180 ms stay apart: a linear axis to 10 s would put them 0.6% apart.
    assert scale.share(240.0) - scale.share(180.0) > 0.06
    assert scale.share(100.0) == 0.0 and scale.share(10_000.0) == 1.0


def test_log_scale_over_many_decades_ticks_decades_only_and_ignores_zero():
    scale = log_scale([0.0, 3.0, 45_000.0])
    assert scale.ticks == (1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0)
    assert scale.share(0.0) == 0.0  # a zero sits on the axis instead of breaking the log


def test_a_rate_axis_is_fitted_to_the_data_not_0_to_100_percent():
    scale = fitted_rate_scale([0.992, 0.996, 0.999])
    assert 0.98 <= scale.bottom < 0.992 and scale.top == 1.0
    assert scale.ticks[0] == scale.bottom and scale.ticks[-1] <= scale.top
    assert all(b > a for a, b in zip(scale.ticks, scale.ticks[1:], strict=False))
    # The spread of the data fills most of the plot.
    assert scale.share(0.999) - scale.share(0.992) > 0.5


def test_a_fitted_rate_axis_stays_within_0_and_1():
    assert fitted_rate_scale([0.0, 0.02]).bottom == 0.0
    assert fitted_rate_scale([1.0]).top == 1.0
    flat = fitted_rate_scale([0.5])
    assert flat.bottom < 0.5 < flat.top


def test_availability_chart_draws_its_ticks_from_the_data():
    points = [(START + timedelta(hours=h), v) for h, v in enumerate([0.995, 0.999, 0.997])]
    markup = charts.line_chart(
        [charts.Series("Availability", points)],
        title="Availability",
        y_label="availability",
        fmt=percent,
        start=START,
        end=START + timedelta(hours=3),
        axis="fitted",
    )
    labels = [element.text for element in parse(markup).iter(f"{SVG}text")]
    assert percent(0.0) not in labels and percent(1.0) in labels
    assert percent(0.994) in labels  # the lowest tick, just under the lowest value (99.5%)


def test_latency_chart_says_it_is_on_a_log_scale():
    points = [(START + timedelta(hours=h), v) for h, v in enumerate([200.0, 220.0, 8000.0])]
    markup = charts.line_chart(
        [charts.Series("gpt-5.4", points)],
        title="P95",
        y_label="latency (ms)",
        fmt=ms,
        start=START,
        end=START + timedelta(hours=3),
        axis="log",
    )
    texts = [element.text or "" for element in parse(markup).iter(f"{SVG}text")]
    assert "latency (ms) (log scale)" in texts


def test_partial_intervals_are_shaded_labelled_and_their_points_hollow():
    times = [START + timedelta(hours=h) for h in range(4)]
    series = charts.Series(
        "Requests",
        [(moment, 100.0 if 0 < index < 3 else 12.0) for index, moment in enumerate(times)],
        partial=frozenset({times[0], times[-1]}),
    )
    root = parse(
        charts.line_chart(
            [series],
            title="Requests",
            y_label="requests",
            fmt=str,
            start=times[0],
            end=times[-1] + timedelta(minutes=20),
        )
    )
    bands = [g for g in root.iter(f"{SVG}g") if g.get("class") == "partial"]
    assert [band.get("data-time") for band in bands] == [
        times[0].isoformat(),
        times[-1].isoformat(),
    ]
    assert [band.findtext(f"{SVG}text") for band in bands] == ["partial", "partial"]
    hollow = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "partial-point"]
    assert len(hollow) == 2 and all(c.get("fill") == "#fff" for c in hollow)
    # The drop into a partial interval is drawn faint, not as part of the solid line.
    faint = [p for p in root.iter(f"{SVG}path") if p.get("class") == "partial-line"]
    assert len(faint) == 1 and (faint[0].get("d") or "").count("M") == 2


def test_stacked_bars_of_partial_intervals_are_pale():
    times = [START + timedelta(hours=h) for h in range(3)]
    root = parse(
        charts.stacked_time_bars(
            times,
            [charts.Bars("gpt", [1.0, 2.0, 0.5])],
            title="Spend",
            y_label="USD",
            fmt=str,
            start=times[0],
            end=times[-1] + timedelta(minutes=30),
            step=timedelta(hours=1),
            partial=frozenset({times[-1]}),
        )
    )
    rects = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [r.get("fill-opacity") for r in rects] == [None, None, "0.45"]


@pytest.mark.django_db
def test_the_first_and_last_buckets_cut_by_the_window_are_partial(organization):
    now = datetime(2026, 11, 25, 10, 52, tzinfo=UTC)
    cut = selection_from({"range": "24h"}, organization_id=organization.pk, now=now)
    buckets = cut.buckets()
    assert partial_buckets(cut) == {buckets[0], buckets[-1]}
    whole = selection_from(
        {"range": "custom", "from": "2026-11-24T10:00", "to": "2026-11-25T10:00"},
        organization_id=organization.pk,
        now=now,
    )
    assert partial_buckets(whole) == frozenset()


def test_close_threshold_labels_are_stacked_apart_in_order():
    baselines = label_positions([100.0, 102.0, 101.0], low=40.0, high=260.0)
    ordered = sorted(baselines)
    assert all(b - a >= LABEL_GAP for a, b in itertools.pairwise(ordered))
    assert baselines[0] < baselines[2] < baselines[1]  # the label order follows the lines


def test_labels_at_the_bottom_are_lifted_inside_the_plot():
    baselines = label_positions([258.0, 259.0, 260.0], low=40.0, high=256.0)
    assert max(baselines) <= 256.0 and min(baselines) >= 40.0
    ordered = sorted(baselines)
    assert all(b - a >= LABEL_GAP for a, b in itertools.pairwise(ordered))


def test_threshold_labels_in_a_chart_do_not_overlap():
    thresholds = [charts.Threshold(v, f"Rule {v}") for v in (0.010, 0.011, 0.012)]
    root = parse(
        charts.line_chart(
            [charts.Series("rate", [(START, 0.5), (START + timedelta(hours=1), 0.4)])],
            title="Interception",
            y_label="rate",
            fmt=percent,
            start=START,
            end=START + timedelta(hours=1),
            thresholds=thresholds,
        )
    )
    ys = sorted(
        float(t.get("y") or "nan")
        for t in root.iter(f"{SVG}text")
        if t.get("class") == "threshold-label"
    )
    assert len(ys) == 3
    assert all(b - a >= LABEL_GAP for a, b in itertools.pairwise(ys))


def test_zero_scale_keeps_round_ticks():
    assert zero_scale(9.0, whole=True).ticks == (0.0, 3.0, 6.0, 9.0)


@pytest.mark.django_db
def test_rule_thresholds_only_on_charts_of_the_rules_scope(organization):
    support = ProjectFactory.create(organization=organization, name="support")
    ProjectFactory.create(organization=organization, name="trading")
    AlertRuleFactory.create(project=support, name="slow", kind=AlertKind.LATENCY_SLO)
    AlertRuleFactory.create(
        project=support,
        name="gpt slow",
        kind=AlertKind.LATENCY_SLO,
        scope_kind="model",
        scope_name="gpt-5.4",
        threshold=900,
    )
    AlertRuleFactory.create(project=support, name="fails", kind=AlertKind.MODEL_FAILURE)
    now = timezone.now()

    def rules(**params: str) -> list:
        query = selection_from(
            {"range": "24h", **params}, organization_id=organization.pk, now=now
        ).query
        return active_rules(query)

    # Every project in view: no project's rule belongs on the organization-wide series.
    assert rules() == []
    project = rules(project="support")
    assert {rule.name for rule in project} == {"slow", "fails"}
    labels = [t.label for t in rule_thresholds(project, AlertKind.LATENCY_SLO)]
    assert labels == ["Rule “slow” (support)"]
    # Lines per model: the project's P95 rule is not theirs; a model failure rule is.
    assert rule_thresholds(project, AlertKind.LATENCY_SLO, per_model=True) == []
    assert len(rule_thresholds(project, AlertKind.MODEL_FAILURE, per_model=True)) == 1
    assert rule_thresholds(project, AlertKind.MODEL_FAILURE) == []
    # Filtered to the model: its own rule, on either kind of chart.
    model = rules(project="support", model="gpt-5.4")
    assert [rule.name for rule in model] == ["gpt slow"]
    assert [t.value for t in rule_thresholds(model, AlertKind.LATENCY_SLO, per_model=True)] == [
        900.0
    ]


def test_a_drift_rules_status_is_judged_only_from_its_minimum_of_attempts():
    from decimal import Decimal

    from analytics.dashboard.pages.routing import RuleDrift
    from analytics.metrics.results import Drift
    from governance.models import AlertRule

    rule = AlertRule(kind="routing_drift", threshold=Decimal("0.25"), min_requests=50)

    def status(psi: float, attempts: int) -> RuleDrift:
        drift = Drift("p", psi, None, "expected_shares", None, attempts, ())
        return RuleDrift(rule=rule, window_label="1 h", drift=drift)

    assert status(0.6, 50).judged and status(0.6, 50).breached
    assert not status(0.6, 49).judged and not status(0.6, 49).breached  # as the alert: unjudged
    assert status(0.1, 500).judged and not status(0.1, 500).breached

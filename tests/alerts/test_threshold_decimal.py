"""A cost rule's threshold is money: a Decimal in the model, judged against the exact spend
(Decimal to Decimal, to 1e-8 USD), and shown in the alert's email as it was before."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.wording import crossing_shown
from analytics.models import Alert, AlertState, Notification
from analytics.rollups.job import rollups_advance
from governance.models import AlertRule
from tests.conftest import routing_event

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now().replace(second=0, microsecond=0)


def _cost_rule(project, threshold: str) -> AlertRule:
    return AlertRule.objects.create(
        project=project,
        name=f"spend over {threshold}",
        kind="cost_overrun",
        threshold=Decimal(threshold),
        window_minutes=10,
        for_minutes=0,
        min_requests=0,
        recipients=["finance@example.com"],
    )


def test_a_cost_ceiling_is_judged_exactly_against_the_spend(post_batch, project):
    event = routing_event(timestamp=(NOW - timedelta(minutes=3)).isoformat())
    event["cost_usd"] = "100.00000001"  # a reported cost: the spend is exactly this
    assert post_batch([event]).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))
    just_below = _cost_rule(project, "100")  # the spend is one hundred-millionth above
    level = _cost_rule(project, "100.00000001")  # equal is not above
    just_above = _cost_rule(project, "100.00000002")

    alerts_evaluate(now=NOW)

    stored = AlertRule.objects.get(pk=level.pk).threshold
    assert isinstance(stored, Decimal) and stored == Decimal("100.00000001")
    alert = Alert.objects.get(rule=just_below)
    assert alert.state == AlertState.FIRING
    assert "spend $100.00 over the last 10 min (ceiling $100.00)" in alert.summary
    assert not Alert.objects.filter(rule__in=[level, just_above]).exists()
    mail = Notification.objects.get(alert=alert)
    assert "Value:      $100.00 against a threshold of $100.00" in mail.body_text


def test_a_blank_cost_threshold_is_the_default_hundred_dollars_as_a_decimal(project):
    rule = AlertRule.objects.create(project=project, name="spend", kind="cost_overrun")
    threshold = AlertRule.objects.get(pk=rule.pk).effective_threshold
    assert isinstance(threshold, Decimal) and threshold == Decimal("100")


@pytest.mark.parametrize(
    ("kind", "value", "threshold", "expected"),
    [
        ("error_rate", 0.25, "0.1", ("25.00%", "10.00%", "+15.00 points, 2.5x the threshold")),
        ("latency_slo", 900.0, "500", ("900.0 ms", "500.0 ms", "+400.0 ms, 1.8x the threshold")),
        ("cost_overrun", 12.5, "10", ("$12.50", "$10.00", "+$2.50, 1.2x the threshold")),
        ("cost_overrun", 0.3, "0.1", ("$0.30", "$0.10", "+$0.20, 3.0x the threshold")),
        ("routing_drift", 0.4, "0.25", ("0.400", "0.250", "+0.150, 1.6x the threshold")),
        ("rollup_mismatch", 2.0, "0", ("2 hours", "0 hours", "+2 hours")),
    ],
)
def test_a_decimal_threshold_reads_as_the_float_one_did(kind, value, threshold, expected):
    """The email's figures are the same text whether the line comes as the rule's Decimal or
    as the float the alert keeps; money differences are worked in Decimal ($0.30 - $0.10 is
    $0.20, whatever float makes of it)."""
    for line in (Decimal(threshold), float(threshold)):
        shown = crossing_shown(kind, value, line)
        assert (shown["value_shown"], shown["threshold_shown"], shown["excess_shown"]) == expected

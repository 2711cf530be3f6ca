"""The alert page: a rule alert's rule, state history, deliveries and its measured value
against the threshold (drawn from the rule's own evaluations); a budget alert's spend against
the money of its thresholds; acknowledge and silence from the page; 404 for another
organization's alert or a bad id; a bounded number of queries."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.selectors import Judgement
from analytics.dashboard.pages.alert import thinned
from analytics.formatting import usd
from analytics.metrics.budgets import budget_spend_series, budget_status
from analytics.models import Alert, AlertEvaluation, AlertState, Notification
from analytics.rollups.job import rollups_advance
from governance.models import AlertRule
from tests.conftest import enforcement_event, routing_event
from tests.dashboard.test_alerts_page import csrf_token
from tests.governance.factories import BudgetFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now().replace(second=0, microsecond=0)


def _requests(count: int, *, minutes_ago: int, blocked: int) -> list[dict]:
    stamp = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    events = []
    for index in range(count):
        request_id = f"r-{minutes_ago}-{index}"
        events.append(routing_event(request_id=request_id, timestamp=stamp))
        events.append(
            enforcement_event(
                request_id=request_id,
                timestamp=stamp,
                verdict="block" if index < blocked else "allow",
            )
        )
    return events


@pytest.fixture
def firing(post_batch, project) -> Alert:
    """An over-interception rule that went pending, then firing five minutes later, and
    mailed ops once; its evaluations before the alert existed are kept too."""
    rule = AlertRule.objects.create(
        project=project,
        name="too many blocks",
        kind="over_interception",
        threshold=Decimal("0.2"),
        window_minutes=10,
        for_minutes=5,
        min_requests=5,
        recipients=["ops@example.com"],
    )
    assert post_batch(_requests(20, minutes_ago=45, blocked=2)).json()["rejected"] == 0
    assert post_batch(_requests(20, minutes_ago=33, blocked=10)).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))
    for minutes_ago in (40, 30, 28, 25):
        alerts_evaluate(now=NOW - timedelta(minutes=minutes_ago))
    alert = Alert.objects.get(rule=rule)
    assert alert.state == AlertState.FIRING
    return alert


def _threshold_y(svg: str) -> float:
    line = re.search(r'<g class="threshold"[^>]*>.*?<line [^>]*y1="([\d.]+)" y2="\1"', svg)
    assert line is not None, "no threshold line"
    return float(line.group(1))


def _table(page: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', page, re.S)
    assert found is not None, table_id
    return found.group(1)


def _chart(page: str) -> str:
    found = re.search(r'<figure class="panel" id="alert-chart">(.*?)</figure>', page, re.S)
    assert found is not None
    return found.group(1)


def test_a_firing_rule_alert_shows_its_rule_history_deliveries_and_chart(member, firing):
    response = member("ops").get(f"/dashboard/alerts/{firing.pk}/")
    assert response.status_code == 200
    page = response.content.decode()

    rule_table = _table(page, "alert-rule")
    for shown in ("too many blocks", "over-interception", "20.0%", "10 min", "5 min"):
        assert shown in rule_table
    assert "ops@example.com" in rule_table
    assert 'data-metric="state" data-value="firing"' in page

    history = re.findall(r'data-state-before="(\w*)" data-state-after="(\w+)"', page)
    assert history == [("pending", "firing"), ("", "pending")]  # newest first

    deliveries = _table(page, "alert-deliveries")
    mail = Notification.objects.get(alert=firing)
    assert mail.recipient in deliveries and mail.subject in deliveries
    assert 'data-state="pending"' in deliveries
    # Never tried: no "next try" at its due time, 25 minutes in the past.
    assert "waiting for the sender" in deliveries and "next try" not in deliveries

    svg = _chart(page)
    threshold_y = _threshold_y(svg)
    assert "Threshold of “too many blocks”: 20.0%" in svg
    # One point per judged evaluation of the rule's scope: 10% at 40 min ago (before the
    # alert), then 50% three times; the breaching ones are drawn above the line.
    judged = AlertEvaluation.objects.filter(rule=firing.rule, value__isnull=False)
    points = re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)" r="3"[^>]*><title>([^<]*)</title>', svg)
    assert len(points) == judged.count() == 4
    for y, title in points:
        value = 0.5 if "50.0%" in title else 0.1
        assert (float(y) < threshold_y) == (value > 0.2), title
    assert sum("50.0%" in title for _, title in points) == 3


def test_a_budget_alert_shows_spend_against_the_thresholds_money(
    member, post_batch, project, django_assert_max_num_queries
):
    budget = BudgetFactory.create(
        project=project, name="support monthly", amount_usd=Decimal("0.10"), thresholds=[50, 80]
    )
    assert post_batch(_requests(20, minutes_ago=20, blocked=0)).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(budget=budget)
    spent = budget_status(budget, NOW).spent
    assert spent > 0

    # The running total ends at the budget's status: the same spend, read once per interval.
    points = budget_spend_series(budget, NOW)
    assert points[-1].spent == spent
    assert [p.spent for p in points] == sorted(p.spent for p in points)

    finance = member("finance")
    with django_assert_max_num_queries(12):
        page = finance.get(f"/dashboard/alerts/{alert.pk}/").content.decode()
    svg = _chart(page)
    for label, money in (
        ("50% of the budget", "0.05"),
        ("80% of the budget", "0.08"),
        ("Budget amount", "0.10"),
    ):
        assert f"{label}: {usd(Decimal(money))}" in svg
    assert svg.count('<g class="threshold"') == 3
    assert "Spent this period · " in svg and usd(spent) in svg  # the running total's last point
    rule_table = _table(page, "alert-rule")
    assert usd(spent) in rule_table and "support monthly" in rule_table
    assert 'id="alert-actions"' not in page  # finance reads; ops and admins act


def test_ack_and_silence_from_the_page(member, firing):
    client = member("ops", csrf=True)
    url = f"/dashboard/alerts/{firing.pk}/"
    token = csrf_token(client, url)
    response = client.post(
        f"/dashboard/alerts/{firing.pk}/acknowledge",
        {"csrfmiddlewaretoken": token, "next": url},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url
    page = response.content.decode()
    assert 'data-acknowledged="yes"' in page and 'id="acknowledge-form"' not in page

    response = client.post(
        f"/dashboard/alerts/{firing.pk}/silence",
        {"csrfmiddlewaretoken": token, "next": url, "duration": "1h"},
        follow=True,
    )
    firing.refresh_from_db()
    assert firing.acknowledged_at is not None and firing.silenced_until is not None
    assert 'data-silenced="yes"' in response.content.decode()
    refused = client.post(f"/dashboard/alerts/{firing.pk}/silence", {"duration": "1h"})
    assert refused.status_code == 403  # no CSRF token


def test_another_organizations_user_and_bad_ids_get_404(client, member, firing):
    rival = UserFactory.create(organization=OrganizationFactory.create(name="globex"))
    client.force_login(rival)
    response = client.get(f"/dashboard/alerts/{firing.pk}/")
    assert response.status_code == 404
    assert "too many blocks" not in response.content.decode()
    ops = member("ops")
    for bad in ("abc", "0", "99999999999999999999999", "%C2%B2"):
        assert ops.get(f"/dashboard/alerts/{bad}/").status_code == 404, bad


def test_every_alert_row_links_to_its_page(member, firing):
    ops = member("ops")
    link = f'href="/dashboard/alerts/{firing.pk}/"'
    assert link in ops.get("/dashboard/alerts/").content.decode()
    assert link in ops.get("/dashboard/").content.decode()


def test_the_alert_page_reads_in_few_queries(member, firing, django_assert_max_num_queries):
    ops = member("ops")
    with django_assert_max_num_queries(12):
        assert ops.get(f"/dashboard/alerts/{firing.pk}/").status_code == 200


def test_many_judgements_are_thinned_to_their_peaks():
    start = NOW - timedelta(hours=12)
    judgements = [
        Judgement(start + timedelta(minutes=i), 0.9 if i == 401 else 0.1, i == 401)
        for i in range(720)
    ]
    kept = thinned(judgements, most=360)
    assert len(kept) == 360
    assert [j.value for j in kept].count(0.9) == 1  # the one breach survives the thinning
    assert kept == sorted(kept, key=lambda j: j.at)
    assert thinned(judgements[:10], most=360) == judgements[:10]

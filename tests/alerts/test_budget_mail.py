"""Budget and alert mails: they name the budget's project (or all projects), show money with
thousands separators, and thresholds crossed in one evaluation make one mail naming the
highest, while every crossed threshold is noted so none fires again this period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.alerts.evaluation import alerts_evaluate
from analytics.metrics.budgets import budget_status, period_bounds
from analytics.models import BudgetNotice, Notification
from analytics.rollups.job import rollups_advance
from tests.conftest import routing_event
from tests.governance.factories import AlertRuleFactory, BudgetFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

BIG = 200_000_000  # input tokens on gpt-5.4 at $0.007 per 1k: $1,400.00 an attempt


def _spend(post_batch, count: int, minutes_ago: int = 2) -> None:
    when = timezone.now() - timedelta(minutes=minutes_ago)
    events = [
        routing_event(timestamp=when.isoformat(), input_tokens=BIG, output_tokens=0)
        for _ in range(count)
    ]
    assert post_batch(events).json()["accepted"] == count
    rollups_advance(max_seconds=float("inf"))


def _bodies(mail: Notification) -> tuple[str, str, str]:
    return mail.subject, mail.body_text, mail.body_html


def test_one_evaluation_crossing_50_and_80_sends_one_mail_naming_80(post_batch, project):
    budget = BudgetFactory.create(
        project=project,
        name="support monthly",
        amount_usd=Decimal("12000"),
        notify_forecast=False,
        recipients=["finance@example.com"],
    )
    _spend(post_batch, 7)  # $9,800.00: 81.7%, past 50% and 80% at once
    now = timezone.now()
    alerts_evaluate(now=now)
    notices = BudgetNotice.objects.filter(budget=budget)
    assert set(notices.values_list("threshold", flat=True)) == {"50", "80"}
    mail = Notification.objects.get()
    assert mail.subject == (
        "[Tollgate budget] support monthly (project support): 80% of $12,000.00 reached"
    )
    assert "50%" not in mail.subject
    assert 'Budget "support monthly" of project support has reached 80% of its amount.' in (
        mail.body_text
    )
    assert "It passed 50% since the last check too." in mail.body_text
    assert "reached 80%" in mail.body_html and "It passed 50%" in mail.body_html

    alerts_evaluate(now=now + timedelta(minutes=1))  # neither 50% nor 80% fires again
    assert Notification.objects.count() == 1 and notices.count() == 2

    _spend(post_batch, 2, minutes_ago=1)  # $12,600.00: 105%
    alerts_evaluate(now=now + timedelta(minutes=2))
    assert set(notices.values_list("threshold", flat=True)) == {"50", "80", "100"}
    assert Notification.objects.count() == 2
    latest = Notification.objects.latest("pk")
    assert "100% of $12,000.00 reached" in latest.subject
    assert "It passed" not in latest.body_text  # only 100% was new
    alerts_evaluate(now=now + timedelta(minutes=3))
    assert Notification.objects.count() == 2


def test_budget_mail_names_the_project_and_shows_money_with_separators(post_batch, project):
    BudgetFactory.create(
        project=project,
        name="router spend",
        scope_kind="service",
        scope_name="router",
        amount_usd=Decimal("2000"),
        thresholds=[50],
        notify_forecast=False,
        recipients=["finance@example.com"],
    )
    _spend(post_batch, 1)  # $1,400.00 of $2,000.00
    alerts_evaluate(now=timezone.now())
    subject, text, html = _bodies(Notification.objects.get())
    assert subject == "[Tollgate budget] router spend (project support): 50% of $2,000.00 reached"
    assert "Project:    support\n" in text
    assert "Scope:      service router in project support\n" in text
    assert "Amount:     $2,000.00\n" in text
    start, end = period_bounds("month", timezone.now())
    last_day = (end - timedelta(days=1)).date()
    assert f"Period:     month from {start.date()} to {last_day} (UTC)" in text  # inclusive
    assert "Spent:      $1,400.00 (70.0%)\n" in text
    assert "Project support" in html and "<td>support</td>" in html
    assert "<td>$2,000.00</td>" in html and "<td>$1,400.00 (70.0%)</td>" in html
    assert "/dashboard/cost/?project=support" in text + html
    for body in (subject, text, html):
        assert "$2000.00" not in body and "$1400.00" not in body


def test_an_organization_budget_mail_says_all_projects(post_batch, project, organization):
    ProjectFactory.create(organization=organization, name="search")
    BudgetFactory.create(
        organization_wide=True,
        organization=organization,
        name="acme monthly",
        amount_usd=Decimal("1000"),
        thresholds=[100],
        notify_forecast=False,
        recipients=["finance@example.com"],
    )
    _spend(post_batch, 1)  # $1,400.00: past the whole amount
    alerts_evaluate(now=timezone.now())
    subject, text, html = _bodies(Notification.objects.get())
    assert subject == "[Tollgate budget] acme monthly (all projects): 100% of $1,000.00 reached"
    assert "Project:    all projects of acme\n" in text
    assert "All projects of acme" in html and "<td>all projects</td>" in html
    assert "Spent:      $1,400.00 (140.0%)" in text
    assert "/dashboard/cost/\n" in text  # no project filter: the whole organization


def test_thresholds_and_forecast_crossed_together_are_one_mail(post_batch, project):
    budget = BudgetFactory.create(
        project=project,
        period="quarter",  # the run rate forecasts far past the amount
        amount_usd=Decimal("2500"),
        recipients=["finance@example.com"],
    )
    _spend(post_batch, 1)  # $1,400.00: 56%, forecast to exceed
    now = timezone.now()
    if budget_status(budget, now).status != "forecast_to_exceed":
        pytest.skip("the quarter ends within days: its run rate cannot forecast past $2,500")
    alerts_evaluate(now=now)
    fired = set(BudgetNotice.objects.filter(budget=budget).values_list("threshold", flat=True))
    assert fired == {"50", "forecast"}
    mail = Notification.objects.get()
    assert "50% of $2,500.00 reached" in mail.subject
    assert "It is also forecast to exceed its amount" in mail.body_text


def test_alert_mail_money_has_separators(post_batch, project):
    AlertRuleFactory.create(
        project=project,
        name="spend ceiling",
        kind="cost_overrun",
        threshold=Decimal("1000"),
        window_minutes=10,
        for_minutes=0,
        recipients=["ops@example.com"],
    )
    _spend(post_batch, 1)
    alerts_evaluate(now=timezone.now())
    mail = Notification.objects.get()
    assert "support" in mail.subject
    for body in (mail.body_text, mail.body_html):
        assert "$1,400.00" in body and "$1,000.00" in body
        assert "+$400.00, 1.4x the threshold" in body

"""Budget thresholds fire once per period each; forecast-to-exceed fires before the money is
gone; a new period starts clean; GET /api/v1/budgets answers the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.alerts.evaluation import alerts_evaluate
from analytics.metrics.budgets import SpendLedger, budget_status, period_bounds
from analytics.models import BudgetNotice, Notification
from analytics.rollups.job import rollups_advance
from governance.models import Budget
from governance.services import organization_create, project_create, user_create
from tests.conftest import routing_event
from tests.governance.factories import ApiKeyFactory, BudgetFactory, ServiceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_period_bounds_are_utc_calendar_periods():
    moment = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # a Thursday
    assert period_bounds("day", moment) == (
        datetime(2026, 11, 26, tzinfo=UTC),
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert period_bounds("week", moment)[0] == datetime(2026, 11, 23, tzinfo=UTC)
    assert period_bounds("month", moment)[1] == datetime(2026, 12, 1, tzinfo=UTC)
    assert period_bounds("quarter", moment) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_bounds("month", datetime(2026, 12, 5, tzinfo=UTC))[1] == datetime(
        2027, 1, 1, tzinfo=UTC
    )


def _spend(post_batch, count: int, when: datetime) -> None:
    """Attempts of 1,000 input tokens on gpt-5.4 ($0.007 per 1k): $0.007 each."""
    events = [
        routing_event(timestamp=when.isoformat(), input_tokens=1000, output_tokens=0)
        for _ in range(count)
    ]
    assert post_batch(events).json()["accepted"] == count
    rollups_advance(max_seconds=float("inf"))


def test_each_threshold_fires_once_per_period(post_batch, project):
    budget = BudgetFactory.create(
        project=project,
        period="day",
        amount_usd=Decimal("0.70"),
        notify_forecast=False,
        recipients=["finance@example.com"],
    )
    now = timezone.now()
    _spend(post_batch, 60, now - timedelta(minutes=2))  # $0.42 = 60%
    alerts_evaluate(now=now)
    assert set(BudgetNotice.objects.values_list("threshold", flat=True)) == {"50"}
    alerts_evaluate(now=now + timedelta(minutes=1))
    assert Notification.objects.count() == 1  # once per period, however often evaluated

    _spend(post_batch, 41, now - timedelta(minutes=1))  # $0.707 = 101%
    alerts_evaluate(now=now + timedelta(minutes=2))
    fired = set(BudgetNotice.objects.values_list("threshold", flat=True))
    assert fired == {"50", "80", "100"}
    assert Notification.objects.count() == 2  # 80% and 100% crossed together: one mail
    assert "100% of $0.70 reached" in Notification.objects.latest("pk").subject
    status = budget_status(budget, now)
    assert status.spent == Decimal("0.707") and status.status == "exceeded"


def test_forecast_to_exceed_fires_before_the_money_is_gone(post_batch, project, organization):
    now = timezone.now()
    _spend(post_batch, 20, now - timedelta(minutes=2))  # $0.14
    budget = Budget(
        organization=organization,
        project=project,
        name="weekly",
        period="week",
        amount_usd=Decimal("1000"),
        thresholds=[100],
        recipients=["finance@example.com"],
    )
    status = budget_status(budget, now)
    assert status.spent == Decimal("0.14") and status.forecast > status.spent
    # An amount between what is spent and what the run rate says will be: not yet gone,
    # but on course to be.
    budget.amount_usd = ((status.spent + status.forecast) / 2).quantize(Decimal("0.0001"))
    budget.save()
    alerts_evaluate(now=now)
    assert list(BudgetNotice.objects.values_list("threshold", flat=True)) == ["forecast"]
    notice = Notification.objects.get()
    assert "forecast to exceed" in notice.subject
    assert "Spent:      $0.14" in notice.body_text
    alerts_evaluate(now=now + timedelta(minutes=1))
    assert Notification.objects.count() == 1


def test_a_new_period_starts_clean(post_batch, project):
    budget = BudgetFactory.create(
        project=project, period="day", amount_usd=Decimal("0.10"), notify_forecast=False
    )
    now = timezone.now()
    _spend(post_batch, 20, now - timedelta(minutes=2))
    alerts_evaluate(now=now)
    assert BudgetNotice.objects.filter(budget=budget).count() == 3
    tomorrow = now + timedelta(days=1)
    alerts_evaluate(now=tomorrow)
    assert budget.alerts.get().state == "resolved"
    assert BudgetNotice.objects.filter(budget=budget).count() == 3  # nothing new fired


def test_budgets_api_answers_status(post_batch, project):
    read_client = APIClient()
    read_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory.create(project=project, scope='read').raw_key}"
    )
    BudgetFactory.create(project=project, period="month", amount_usd=Decimal("100.00"))
    _spend(post_batch, 10, timezone.now() - timedelta(minutes=2))
    (row,) = read_client.get("/api/v1/budgets").json()["rows"]
    assert row["spent_usd"] == "0.070000"
    assert row["amount_usd"] == "100.000000"
    assert row["status"] == "ok" and row["thresholds_crossed"] == []
    assert Decimal(row["forecast_usd"]) >= Decimal(row["spent_usd"])


def test_budgets_api_filters_by_a_project_checked_like_the_metrics_api(project, organization):
    """`?project=` narrows the budgets to one visible project, else 400 naming `project`
    (it was ignored: every budget was listed whatever it said)."""
    search = project_create(organization=organization, name="search")
    for budget_project, name in ((project, "support-monthly"), (search, "search-monthly")):
        Budget.objects.create(
            organization=organization,
            project=budget_project,
            name=name,
            period="month",
            amount_usd=Decimal("100.00"),
        )
    rival = project_create(organization=organization_create(name="globex"), name="rival")
    user = user_create(organization=organization, username="fin", role="finance", password="pw-1")
    member = APIClient()
    member.force_login(user)
    rows = member.get("/api/v1/budgets", {"project": "search"}).json()["rows"]
    assert [row["name"] for row in rows] == ["search-monthly"]
    assert len(member.get("/api/v1/budgets").json()["rows"]) == 2
    for name in (rival.name, "nope", "a\x00b"):
        response = member.get("/api/v1/budgets", {"project": name})
        assert response.status_code == 400 and response.json()["field"] == "project", name


def test_a_ledger_reads_only_its_own_projects_services(post_batch, project, service):
    ServiceFactory.create(name="router")  # a rival organization's service of the same name
    now = timezone.now()
    _spend(post_batch, 2, now - timedelta(minutes=2))
    budget = BudgetFactory.create(project=project, scope_kind="service", scope_name="router")
    ledger = SpendLedger([project])
    assert ledger(budget, now - timedelta(hours=1), now) == Decimal("0.014")
    assert ledger._service_ids == {(project.pk, "router"): {service.pk}}

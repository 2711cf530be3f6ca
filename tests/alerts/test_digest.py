"""The daily finance digest: the selectors' figures for yesterday, in text and HTML, to finance
members only, once per organization and day, never with another organization's figures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.delivery.digest import DigestRun, day_window, finance_digest_send
from analytics.formatting import multiple, ratio_percent, usd
from analytics.metrics.budgets import budget_status
from analytics.metrics.query import MetricsQuery
from analytics.metrics.summary import metrics_summary
from analytics.models import Notification
from analytics.rollups.job import rollups_advance
from analytics.tasks import finance_digest
from governance.models import Budget, Organization, Project
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import (
    ApiKeyFactory,
    BudgetFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

REPORT_HOUR = time(10, 0, tzinfo=UTC)


def report_day() -> date:
    """A recent day inside the retention window that is neither a Sunday nor a month's last
    day, so a weekly budget is still open at its end while a daily one has closed."""
    day = timezone.now().date() - timedelta(days=3)
    while day.weekday() == 6 or (day + timedelta(days=1)).day == 1:
        day -= timedelta(days=1)
    return day


def at(day: date) -> str:
    return datetime.combine(day, REPORT_HOUR).isoformat()


def member(organization: Organization, username: str, role: str) -> None:
    user = UserFactory.create(organization=organization, username=username, role=role)
    user.email = f"{username}@{organization.name}.example"
    user.save(update_fields=["email"])


def tenant_project(organization: Organization, name: str) -> tuple[Project, str]:
    """A project with the reference prices and an ingest key for it."""
    project = ProjectFactory.create(organization=organization, name=name, matrix=True)
    return project, ApiKeyFactory.create(project=project).raw_key


def post(events: list[dict], key: str) -> None:
    response = APIClient().post(
        "/api/v1/ingest",
        data=json.dumps({"batch": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.json()["accepted"] == len(events), response.json()


def attempts(count: int, day: date, model: str, **fields) -> list[dict]:
    """Attempts of 1,000 input tokens: $0.007 on gpt-5.4, $0.012 on claude-opus-4.6."""
    return [
        routing_event(timestamp=at(day), model=model, input_tokens=1000, output_tokens=0, **fields)
        for _ in range(count)
    ]


def blocked(count: int, day: date) -> list[dict]:
    """Requests blocked at preprocess after one gpt-5.4 attempt each: $0.002 enforcement cost."""
    events = []
    for index in range(count):
        request_id = f"blocked-{day}-{index}"
        events += attempts(1, day, "gpt-5.4", request_id=request_id)
        events.append(enforcement_event(timestamp=at(day), request_id=request_id, verdict="block"))
    return events


@pytest.fixture
def day() -> date:
    return report_day()


@pytest.fixture
def acme(organization, project, ingest_key, day) -> Organization:
    """acme: support (gpt-5.4, some blocked, some unpriced) and search (claude-opus-4.6)."""
    _, search_key = tenant_project(organization, "search")
    member(organization, "fiona", "finance")
    member(organization, "oscar", "ops")
    member(organization, "ada", "admin")
    post(
        attempts(35, day, "gpt-5.4")
        + blocked(5, day)
        + attempts(2, day, "mystery-model")
        + attempts(10, day - timedelta(days=1), "gpt-5.4"),
        ingest_key,
    )
    post(attempts(10, day, "claude-opus-4.6"), search_key)
    BudgetFactory.create(
        project=project, name="support daily", period="day", amount_usd=Decimal("0.50")
    )
    BudgetFactory.create(
        organization_wide=True,
        organization=organization,
        name="acme weekly",
        period="week",
        amount_usd=Decimal("1.00"),
    )
    return organization


@pytest.fixture
def globex(day) -> Organization:
    """Another tenant with traffic the same day, on a model acme does not use."""
    organization = OrganizationFactory.create(name="globex")
    _, key = tenant_project(organization, "globex-lab")
    post(attempts(7, day, "gemini-3.1-pro"), key)
    return organization


def send(day: date, hour: int = 6) -> DigestRun:
    """Roll up what was posted, then run the digest at `hour` UTC on the day after `day`."""
    rollups_advance(max_seconds=float("inf"))
    return finance_digest_send(
        now=datetime.combine(day + timedelta(days=1), time(hour, tzinfo=UTC))
    )


def row_of(text: str, name: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    return line.split()


def test_digest_shows_the_selectors_figures_for_the_day(acme, globex, project, day):
    member(globex, "gina", "finance")
    run = send(day)
    assert run.day == day and run.organizations == 2 and run.queued == 2

    notice = Notification.objects.get(organization=acme)
    assert notice.recipient == "fiona@acme.example"
    assert notice.dedup_key == f"digest:{acme.pk}:{day.isoformat()}:fiona@acme.example"
    text, html = notice.body_text, notice.body_html
    window = day_window(day)
    projects = tuple(Project.objects.filter(organization=acme).order_by("name"))
    summary = metrics_summary(MetricsQuery(window=window, projects=projects))

    # 35 + 5 gpt-5.4 attempts ($0.28) in support, 10 claude-opus-4.6 ($0.12) in search.
    assert str(summary.cost_usd) == "0.400000" and summary.unpriced_attempts == 2
    assert f"Spend:               {usd(summary.cost_usd)}\n" in text
    assert "Change:              +$0.33 (+471.4%) on the day before ($0.07)" in text
    assert "$0.40 spent" in notice.subject and day.isoformat() in notice.subject
    assert f"Unpriced attempts:   {summary.unpriced_attempts}" in text
    assert f"Per 1,000 requests:  {usd(summary.cost_per_1k_requests_usd)}" in text

    for each in projects:
        figures = metrics_summary(MetricsQuery(window=window, projects=(each,)))
        assert row_of(text, each.name)[1:5] == [
            usd(figures.cost_usd),
            str(figures.attempts),
            usd(figures.cost_per_1k_requests_usd),
            str(figures.unpriced_attempts),
        ]
        assert f'project={each.name}">{each.name}</a>' in html
        assert f'<td align="right">{usd(figures.cost_usd)}</td>' in html
    assert row_of(text, "support")[1:7] == ["$0.28", "42", "$6.67", "2", "$0.07", "+$0.21"]

    for model in ("gpt-5.4", "claude-opus-4.6", "mystery-model"):
        figures = metrics_summary(MetricsQuery(window=window, projects=projects, model=model))
        assert row_of(text, model)[1:5] == [
            usd(figures.cost_usd),
            str(figures.attempts),
            usd(figures.cost_per_1k_requests_usd),
            str(figures.unpriced_attempts),
        ]
        assert f'model={model}">{model}</a>' in html

    # Savings against the claude-opus-4.6 baseline: 40 x ($0.012 - $0.007) = $0.20; five
    # blocked requests cost 5 x $0.002 = $0.01 of enforcement.
    assert str(summary.routing_savings_usd) == "0.200000"
    assert str(summary.enforcement_cost_usd) == "0.010000"
    assert (ratio_percent(summary.roi), multiple(summary.savings_multiple)) == (
        "1,900%",
        "20.00x",
    )
    assert "Routing savings:     $0.20" in text
    assert "Enforcement cost:    $0.01" in text
    assert "ROI:                 1,900%  = (routing + error-cost savings" in text
    assert "Savings multiple:    20.00x  = (routing + error-cost savings)" in text
    assert '<th align="left">ROI</th><td>1,900%' in html

    # The daily budget closed with the day ($0.28 of $0.50); the weekly one is still open.
    assert (
        f"- support daily (project support, day {day}): $0.28 of $0.50 (56.0%), "
        "forecast $0.28, on track" in text
    )
    weekly = budget_status(Budget.objects.get(name="acme weekly"), window.end)
    assert (
        f"{usd(weekly.spent)} of $1.00 ({weekly.percent:.1f}%), forecast {usd(weekly.forecast)}"
        in text
    )
    assert f'<td align="right">{weekly.percent:.1f}%</td>' in html
    assert f"{settings.TOLLGATE_BASE_URL}/dashboard/cost/?from={day}T00:00:00Z&amp;to=" in html
    assert f"Open in Tollgate: {settings.TOLLGATE_BASE_URL}/dashboard/cost/?from={day}" in text

    # Neither tenant's digest carries the other's figures.
    assert "globex" not in text + html and "gemini" not in text + html
    theirs = Notification.objects.get(organization=globex)
    assert theirs.recipient == "gina@globex.example"
    assert row_of(theirs.body_text, "globex-lab")[1:3] == ["$0.0350", "7"]
    assert "support" not in theirs.body_text + theirs.body_html
    assert "$0.40" not in theirs.body_text and "acme" not in theirs.body_text


def test_names_are_not_escaped_outside_html(day):
    organization = OrganizationFactory.create(name="Smith & Jones <Ltd>")
    member(organization, "fay", "finance")
    project, key = tenant_project(organization, "R&D")
    post(attempts(10, day, "gpt-5.4"), key)
    assert send(day).queued == 1
    notice = Notification.objects.get(organization=organization)
    assert notice.subject.startswith("[Tollgate finance] Smith & Jones <Ltd>, ")
    assert "&amp;" not in notice.subject + notice.body_text
    assert notice.body_text.startswith("Finance digest for Smith & Jones <Ltd>: ")
    assert row_of(notice.body_text, project.name)[1] == "$0.07"  # 10 x $0.007
    assert "Finance digest for Smith &amp; Jones &lt;Ltd&gt;" in notice.body_html
    assert ">R&amp;D</a>" in notice.body_html


def test_digest_is_queued_once_per_organization_and_day(acme, day):
    first = send(day, hour=6)
    again = send(day, hour=18)
    assert (first.queued, again.queued) == (1, 0)
    assert Notification.objects.count() == 1
    next_day = send(day + timedelta(days=1))  # a new day is a new digest
    assert next_day.queued == 1
    assert Notification.objects.count() == 2


def test_an_organization_without_finance_members_gets_nothing(acme, globex, day):
    member(globex, "gus", "ops")
    member(globex, "greta", "admin")
    run = send(day)
    assert run.skipped_no_recipients == 1 and run.queued == 1
    assert not Notification.objects.filter(organization=globex).exists()
    assert list(Notification.objects.values_list("recipient", flat=True)) == ["fiona@acme.example"]


def test_task_queues_yesterdays_digest_then_sends(organization, monkeypatch):
    member(organization, "fiona", "finance")
    sends = []
    monkeypatch.setattr("analytics.tasks.notifications_send.delay", lambda: sends.append(1))
    assert finance_digest.name == "analytics.finance_digest"
    assert finance_digest()["queued"] == 1
    assert finance_digest()["queued"] == 0  # the same day again: nothing new, nothing to send
    assert sends == [1]
    notice = Notification.objects.get()
    yesterday = timezone.now().date() - timedelta(days=1)
    assert f"{yesterday}: $0.00 spent" in notice.subject
    # No enforcement cost, so no ratio: both shown as n/a.
    assert "ROI:                 n/a" in notice.body_text
    assert "Savings multiple:    n/a" in notice.body_text


def test_beat_runs_the_digest_daily_at_six_utc():
    (entry,) = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "analytics.finance_digest"
    ]
    assert entry["schedule"] == crontab(hour=6, minute=0)
    assert settings.CELERY_TIMEZONE == "UTC"

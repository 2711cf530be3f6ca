"""`manage.py send_digest ORG [--date]`: the finance digest now, delivered, once per day and
recipient like the scheduled one; a bad organization or date is a one-line error naming it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from analytics.models import Notification
from analytics.rollups.job import rollups_advance
from analytics.services import finance_digest_send
from governance.models import Organization
from tests.conftest import routing_event
from tests.governance.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BIG = 200_000_000  # input tokens on gpt-5.4 at $0.007 per 1k: $1,400.00 an attempt


def member(organization: Organization, username: str, role: str) -> str:
    user = UserFactory.create(organization=organization, username=username, role=role)
    user.email = f"{username}@{organization.name}.example"
    user.save(update_fields=["email"])
    return user.email


def send_digest(*args: str) -> str:
    out = StringIO()
    call_command("send_digest", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def day(post_batch, organization) -> date:
    """Three days ago, with two $1,400.00 attempts of acme's support project."""
    day = timezone.now().date() - timedelta(days=3)
    when = datetime.combine(day, time(10, tzinfo=UTC)).isoformat()
    events = [routing_event(timestamp=when, input_tokens=BIG, output_tokens=0) for _ in range(2)]
    assert post_batch(events).json()["accepted"] == 2
    rollups_advance(max_seconds=float("inf"))
    return day


def test_send_digest_sends_once_per_day_and_recipient(organization, day, mailoutbox):
    recipients = {member(organization, "fiona", "finance"), member(organization, "fred", "finance")}
    member(organization, "oscar", "ops")  # ops members get no digest
    globex = OrganizationFactory.create(name="globex")
    member(globex, "gina", "finance")

    out = send_digest("acme", "--date", day.isoformat())
    assert f"digest of acme for {day}: 2 emails queued" in out
    assert "notifications: 2 sent" in out
    assert {message.to[0] for message in mailoutbox} == recipients
    (subject,) = {message.subject for message in mailoutbox}
    assert subject.startswith(f"[Tollgate finance] acme, {day}: $2,800.00 spent")
    assert "Spend:               $2,800.00" in mailoutbox[0].body

    again = send_digest("acme", "--date", day.isoformat())
    assert "already queued for every recipient (once a day); nothing new queued" in again
    assert "notifications: 0 sent" in again
    assert len(mailoutbox) == 2  # one mail per recipient, however often run
    assert Notification.objects.count() == 2
    assert not Notification.objects.filter(organization=globex).exists()


def test_send_digest_defaults_to_yesterday_and_shares_the_scheduled_dedup(organization):
    member(organization, "fiona", "finance")
    yesterday = timezone.now().astimezone(UTC).date() - timedelta(days=1)
    assert "1 emails queued" in send_digest("acme")
    notice = Notification.objects.get()
    assert notice.dedup_key == f"digest:{organization.pk}:{yesterday}:fiona@acme.example"
    assert notice.state == "sent"
    assert finance_digest_send().queued == 0  # the scheduled run of the day sends it no more


def test_the_scheduled_digest_then_the_command_sends_once(organization, day):
    member(organization, "fiona", "finance")
    assert (
        finance_digest_send(
            now=datetime.combine(day + timedelta(days=1), time(6, tzinfo=UTC))
        ).queued
        == 1
    )
    assert "nothing new queued" in send_digest("acme", "--date", day.isoformat())
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "organization 'nope' does not exist"),
        (["acme", "--date", "2026-13-01"], "--date: '2026-13-01' is not a date (YYYY-MM-DD)"),
        (["acme", "--date", "yesterday"], "--date: 'yesterday' is not a date"),
        (["acme", "--date", "today"], "--date: "),
    ],
)
def test_send_digest_rejects_a_bad_organization_or_date(organization, args, message):
    member(organization, "fiona", "finance")
    if args[-1] == "today":  # a day not yet over: its digest would be partial
        args = [*args[:-1], timezone.now().astimezone(UTC).date().isoformat()]
        message = f"--date: {args[-1]} has not ended yet (UTC)"
    with pytest.raises(CommandError) as error:
        send_digest(*args)
    assert message in str(error.value)
    assert not Notification.objects.exists()


def test_send_digest_without_finance_members_says_so(organization):
    member(organization, "oscar", "ops")
    with pytest.raises(CommandError, match="no finance member with an email address"):
        send_digest("acme")

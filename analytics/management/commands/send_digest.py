from argparse import ArgumentParser
from datetime import UTC, date, timedelta
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from analytics.services import notifications_send, organization_digest_send
from governance.management.base import TollgateCommand, organization_named


def day_parse(value: str | None, today: date) -> date:
    """`--date`: a finished UTC day, yesterday when not given (as the scheduled digest). Today
    is refused: its digest would go out with half a day, and once per day means the full one
    would then never be sent."""
    if value is None:
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date: {value!r} is not a date (YYYY-MM-DD)") from None
    if day >= today:
        raise CommandError(
            f"--date: {value} has not ended yet (UTC); give {today - timedelta(days=1)} or earlier"
        )
    return day


class Command(TollgateCommand):
    help = (
        "Send an organization's finance digest now (of yesterday, or --date), once per day "
        "and recipient like the scheduled one, then send the pending outbox."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument(
            "--date", dest="day", help="the UTC day, YYYY-MM-DD (default: yesterday)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        organization = organization_named(options["org"])
        day = day_parse(options["day"], now.astimezone(UTC).date())
        run = organization_digest_send(organization=organization, day=day, now=now)
        if run.skipped_locked:
            raise CommandError("another worker is sending the digest now; try again in a minute")
        if run.skipped_no_recipients:
            raise CommandError(
                f"organization {organization.name!r} has no finance member with an email "
                "address: nobody to send the digest to"
            )
        if run.queued:
            self.stdout.write(
                f"digest of {organization.name} for {day}: {run.queued} emails queued"
            )
        else:
            self.stdout.write(
                f"digest of {organization.name} for {day} was already queued for every "
                "recipient (once a day); nothing new queued"
            )
        self.stdout.write(notifications_send().summary())

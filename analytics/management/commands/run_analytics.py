from typing import Any

from analytics.services import (
    alerts_evaluate,
    notifications_send,
    repricings_advance,
    rollups_advance,
)
from governance.management.base import TollgateCommand


class Command(TollgateCommand):
    help = "Run the analytics jobs now, synchronously: rollups, repricings, alert evaluation, pending notifications."

    def handle(self, *args: Any, **options: Any) -> None:
        run = rollups_advance(max_seconds=float("inf"))
        if run.skipped_locked:
            self.stdout.write("another worker holds the rollup lock; it is doing this work now")
        self.stdout.write(
            f"rollups: {run.events['routing']} routing and {run.events['enforcement']} enforcement "
            f"events in {run.chunks} chunks"
        )
        repriced = repricings_advance(max_seconds=float("inf"))
        self.stdout.write(
            f"repricings: {repriced.hours} hours repriced, {repriced.finished} jobs finished, "
            f"{repriced.failed} failed (see the admin)"
        )
        evaluation = alerts_evaluate()
        if evaluation.skipped_locked:
            self.stdout.write("another worker is evaluating alerts now")
        self.stdout.write(
            f"alerts: {evaluation.evaluated} evaluated, {len(evaluation.transitions)} changes, "
            f"{evaluation.notifications} notifications queued"
        )
        for transition in evaluation.transitions:
            self.stdout.write(f"  {transition}")
        self.stdout.write(notifications_send().summary())

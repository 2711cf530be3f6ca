from typing import Any

from analytics.rollup import rollups_advance
from governance.management.base import TollgateCommand


class Command(TollgateCommand):
    help = "Run the analytics jobs now, synchronously: fold every committed event into the rollups."

    def handle(self, *args: Any, **options: Any) -> None:
        run = rollups_advance(max_seconds=float("inf"))
        if run.skipped_locked:
            self.stdout.write("another worker holds the rollup lock; it is doing this work now")
        self.stdout.write(
            f"rollups: {run.events['routing']} routing and {run.events['enforcement']} enforcement "
            f"events in {run.chunks} chunks"
        )

from argparse import ArgumentParser
from typing import Any

from analytics.management.reconcile_args import bad_arguments, hours_span, one_project_named
from analytics.services import rollups_rebuild
from governance.management.base import TollgateCommand


class Command(TollgateCommand):
    help = (
        "Recompute a project's rollups of every hour in [--from, --to) from its raw events, "
        "under the rollup lock, and resolve the mismatches that repairs."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")
        parser.add_argument("--from", dest="start", required=True, help="first hour (UTC)")
        parser.add_argument("--to", dest="end", required=True, help="end, exclusive")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = hours_span(options["start"], options["end"])
        if start is None or end is None:
            raise bad_arguments("--from and --to are required")
        project = one_project_named(options["org"], options["project"])
        run = rollups_rebuild(project=project, start=start, end=end)
        self.stdout.write(
            f"rebuilt {run.hours} hours of {options['org']}/{options['project']} from "
            f"{start:%Y-%m-%dT%H:00Z} to {end:%Y-%m-%dT%H:00Z}; "
            f"{run.resolved} mismatches resolved"
            + (
                f"; {run.skipped} hours skipped (raw events dropped by retention)"
                if run.skipped
                else ""
            )
        )
        for difference in run.still_differing:  # raw events changed meanwhile, or a bug
            self.stdout.write(f"{difference.hour:%Y-%m-%dT%H:00Z} still differs")
        if run.still_differing:
            raise SystemExit(1)

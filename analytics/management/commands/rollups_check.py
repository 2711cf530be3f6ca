from argparse import ArgumentParser
from typing import Any

from analytics.management.reconcile_args import hours_span, projects_named
from analytics.services import rollups_reconcile
from governance.management.base import TollgateCommand
from governance.models import Project


class Command(TollgateCommand):
    help = (
        "Print the hours whose rollups differ from their raw events (exit 1 when any, 0 when "
        "none) and record them as the beat's reconciliation does; bad arguments exit 2."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org", nargs="?", help="only this organization's projects")
        parser.add_argument("project", nargs="?", help="only this project of the organization")
        parser.add_argument("--from", dest="start", help="first hour (ISO date or time, UTC)")
        parser.add_argument("--to", dest="end", help="end of the span, exclusive")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = hours_span(options["start"], options["end"])
        projects = projects_named(options["org"], options["project"])
        project_ids = None if projects is None else [project.pk for project in projects]
        run = rollups_reconcile(project_ids=project_ids, start=start, end=end)
        names = {
            project.pk: f"{project.organization.name}/{project.name}"
            for project in Project.objects.select_related("organization").filter(
                pk__in={difference.project_id for difference in run.differences}
            )
        }
        for difference in run.differences:
            figures = "; ".join(
                f"{name} raw {raw} rollup {rollup}"
                for name, (raw, rollup) in difference.figures.items()
            )
            self.stdout.write(
                f"{names[difference.project_id]} {difference.hour:%Y-%m-%dT%H:00Z}  {figures}"
            )
        if run.differences:
            self.stdout.write(
                f"{len(run.differences)} of {run.hours_checked} hours differ from their raw "
                f"events; repair with manage.py rollups_rebuild ORG PROJECT --from --to"
            )
            raise SystemExit(1)
        self.stdout.write(f"all {run.hours_checked} hours agree with their raw events")

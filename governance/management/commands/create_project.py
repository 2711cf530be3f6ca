from argparse import ArgumentParser
from typing import Any

from governance.management.base import TollgateCommand, organization_named
from governance.services import project_create


class Command(TollgateCommand):
    help = "Create a project in an organization."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_create(
            organization=organization_named(options["org"]), name=options["project"]
        )
        self.stdout.write(f"created project {project}")

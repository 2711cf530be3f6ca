from argparse import ArgumentParser
from typing import Any

from governance.management.base import TollgateCommand, project_named
from governance.services import service_create


class Command(TollgateCommand):
    help = "Create a service (a router, gateway or guardrail layer) in a project."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")
        parser.add_argument("service")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_named(options["org"], options["project"])
        service = service_create(project=project, name=options["service"])
        self.stdout.write(f"created service {service}")

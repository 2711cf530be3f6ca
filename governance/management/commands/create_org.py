from argparse import ArgumentParser
from typing import Any

from governance.management.base import TollgateCommand
from governance.services import organization_create


class Command(TollgateCommand):
    help = "Create an organization (a tenant)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_create(name=options["org"])
        self.stdout.write(f"created organization {organization.name}")

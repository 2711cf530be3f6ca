import getpass
import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from governance.management.base import TollgateCommand, organization_named
from governance.models import Role
from governance.services import user_create


class Command(TollgateCommand):
    help = (
        "Create a user of an organization; the password comes from TOLLGATE_PASSWORD or a prompt."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        password = os.environ.get("TOLLGATE_PASSWORD") or self._prompt()
        user = user_create(
            organization=organization,
            username=options["username"],
            role=options["role"],
            password=password,
        )
        self.stdout.write(f"created user {user.username} ({options['role']} of {organization})")

    def _prompt(self) -> str:
        try:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords do not match")
        except (EOFError, KeyboardInterrupt):
            raise CommandError("no password given (set TOLLGATE_PASSWORD)") from None
        return password

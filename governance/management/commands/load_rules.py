from argparse import ArgumentParser
from typing import Any

from governance.management.base import TollgateCommand, project_named
from governance.management.commands.load_matrix import read_document
from governance.rules import rules_load


class Command(TollgateCommand):
    help = "Load budgets and alert rules (JSON or YAML) into a project, idempotent by name."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_named(options["org"], options["project"])
        result = rules_load(project=project, document=read_document(options["file"]))
        if not result.changed:
            self.stdout.write(f"rules of {project} unchanged")
            return
        self.stdout.write(
            f"rules of {project}: {result.budgets_created} budgets created, "
            f"{result.budgets_updated} updated, {result.rules_created} alert rules created, "
            f"{result.rules_updated} updated"
        )

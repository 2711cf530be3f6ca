from typing import Any

from governance.management.base import ProjectFileCommand
from governance.models import Project
from governance.rules import rules_load


class Command(ProjectFileCommand):
    help = "Load budgets and alert rules (JSON or YAML) into a project, idempotent by name."

    def load(self, project: Project, document: Any) -> None:
        result = rules_load(project=project, document=document)
        if not result.changed:
            self.stdout.write(f"rules of {project} unchanged")
            return
        self.stdout.write(
            f"rules of {project}: {result.budgets_created} budgets created, "
            f"{result.budgets_updated} updated, {result.rules_created} alert rules created, "
            f"{result.rules_updated} updated"
        )

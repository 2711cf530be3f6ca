from typing import Any

from governance.management.base import ProjectFileCommand
from governance.matrix import matrix_load
from governance.models import Project


class Command(ProjectFileCommand):
    help = "Load a model matrix file (JSON or YAML) into a project; loading twice changes nothing."

    def load(self, project: Project, document: Any) -> None:
        result = matrix_load(project=project, document=document)
        if not result.changed:
            self.stdout.write(f"matrix of {project} unchanged")
            return
        self.stdout.write(
            f"matrix of {project}: {result.models_created} models created, "
            f"{result.models_updated} updated, {result.prices_created} prices created, "
            f"{result.prices_updated} corrected"
            + (", bands replaced" if result.bands_replaced else "")
            + (
                f", settings changed: {', '.join(result.settings_changed)}"
                if result.settings_changed
                else ""
            )
            + (f", profile {result.profile}" if result.profile else "")
        )

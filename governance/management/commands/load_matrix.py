import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import CommandError

from governance.management.base import TollgateCommand, project_named
from governance.matrix import matrix_load


def read_document(path: str) -> Any:
    """A JSON or YAML file (YAML is a superset of JSON, the suffix only picks the message)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandError(f"{path} is not valid JSON or YAML: {first_line}") from None


class Command(TollgateCommand):
    help = "Load a model matrix file (JSON or YAML) into a project; loading twice changes nothing."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_named(options["org"], options["project"])
        result = matrix_load(project=project, document=read_document(options["file"]))
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
        )

from argparse import ArgumentParser
from typing import Any

from governance.management.base import TollgateCommand, project_named, service_named
from governance.models import ApiKeyScope
from governance.services import api_key_create


class Command(TollgateCommand):
    help = "Create an API key; the key is printed once, alone on the last line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")
        parser.add_argument("--service", help="required for ingest keys")
        parser.add_argument("--scope", required=True, choices=ApiKeyScope.values)
        parser.add_argument("--name", default="", help="a label to recognise the key by")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_named(options["org"], options["project"])
        service = service_named(project, options["service"]) if options["service"] else None
        api_key, raw_key = api_key_create(
            project=project, service=service, scope=options["scope"], name=options["name"]
        )
        self.stdout.write(
            f"created {api_key.scope} key tg_{api_key.prefix}_… for {service or project}; "
            "it is shown once, store it now:"
        )
        self.stdout.write(raw_key)

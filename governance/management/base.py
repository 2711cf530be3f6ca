"""Base for Tollgate's scriptable commands: bad arguments fail with one line and exit 2."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, NoReturn

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.utils import InterfaceError, OperationalError

from governance.models import Organization, Project, Service
from governance.services import GovernanceError


class OneLineParser(CommandParser):
    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            sys.stderr.write(f"{self.prog}: error: {message}\n")
            sys.exit(2)
        raise CommandError(f"Error: {message}")


class TollgateCommand(BaseCommand):
    """Errors are one line on stderr with a non-zero exit, never a traceback."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineParser  # Django builds the parser itself; only `error` differs
        return parser

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except GovernanceError as exc:
            raise CommandError(str(exc)) from exc
        except (OperationalError, InterfaceError) as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise CommandError(f"database unavailable: {first_line}") from exc


def organization_named(name: str) -> Organization:
    try:
        return Organization.objects.get(name=name)
    except Organization.DoesNotExist:
        raise CommandError(f"organization {name!r} does not exist") from None


def project_named(organization_name: str, project_name: str) -> Project:
    organization = organization_named(organization_name)
    try:
        return Project.objects.get(organization=organization, name=project_name)
    except Project.DoesNotExist:
        raise CommandError(
            f"project {project_name!r} does not exist in {organization_name!r}"
        ) from None


def service_named(project: Project, service_name: str) -> Service:
    try:
        return Service.objects.get(project=project, name=service_name)
    except Service.DoesNotExist:
        raise CommandError(f"service {service_name!r} does not exist in {project}") from None


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


class ProjectFileCommand(TollgateCommand):
    """`ORG PROJECT FILE`: load a JSON or YAML document into a project."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("org")
        parser.add_argument("project")
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_named(options["org"], options["project"])
        self.load(project, read_document(options["file"]))

    def load(self, project: Project, document: Any) -> None:
        raise NotImplementedError

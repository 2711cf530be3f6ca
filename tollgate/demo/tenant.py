"""The demo's tenant and what it remembers between runs.

`demo_tenant_ensure` creates what is missing of the demo organization: a project per traffic
scenario (with a `router` service, the reference model matrix, the scenario's own model mix as
the drift reference, its unit costs of enforcement (`tollgate.demo.economics`) and its profile
(`tollgate.demo.profiles`)), the users ops / finance / admin (each with an address at
`demo.tollgate.test`, so alerts and the digest land in `.data/mail`) and an ingest key per
project. Its edits are recorded in the audit history as made by the user `demo`
(`tollgate.demo.actor`).
`DemoState` is the credentials file that keeps passwords, keys and where the traffic stands, so
a later run reuses them.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tollgate.demo.actor import demo_actor
from tollgate.demo.traffic import SCENARIOS, Scenario
from tollgate.embedded import DATA_DIR

if TYPE_CHECKING:
    from governance.models import Organization

CREDENTIALS_FILE = DATA_DIR / "demo-credentials.json"
MATRIX_FILE = Path(__file__).resolve().parent / "data" / "reference_matrix.json"
ORGANIZATION = "demo"
SERVICE = "router"
USERS = ("ops", "finance", "admin")  # each user's role is its name
EMAIL_DOMAIN = "demo.tollgate.test"  # `.test` is reserved (RFC 2606): never a real mailbox

_save_lock = threading.Lock()  # the live-traffic thread saves too


@dataclass
class DemoState:
    """What the credentials file remembers between runs."""

    passwords: dict[str, str]
    keys: dict[str, str]  # project name -> raw ingest key
    traffic_end: str | None = None  # end of the first week of traffic; incidents sit around it
    traffic_posted: bool = False
    resume_from: str | None = None  # the first minute of traffic not generated yet

    @classmethod
    def load(cls, path: Path = CREDENTIALS_FILE) -> DemoState:
        if not path.exists():
            return cls(passwords={}, keys={})
        data = json.loads(path.read_text())
        return cls(
            passwords=dict(data.get("passwords", {})),
            keys=dict(data.get("keys", {})),
            traffic_end=data.get("traffic_end"),
            traffic_posted=bool(data.get("traffic_posted", False)),
            resume_from=data.get("resume_from"),
        )

    def save(self, path: Path = CREDENTIALS_FILE) -> None:
        """Write the file atomically, readable by its owner only."""
        with _save_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                json.dump(asdict(self), handle, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)

    def scenario_keys(self) -> dict[str, str]:
        """The ingest key of each scenario's project, by scenario."""
        return {name: self.keys[scenario.project] for name, scenario in SCENARIOS.items()}

    @property
    def anchor(self) -> datetime | None:
        return datetime.fromisoformat(self.traffic_end) if self.traffic_end else None


def demo_tenant_ensure(state: DemoState) -> Organization:
    """The organization, projects, services, matrix, users and keys, created when missing;
    new passwords and keys are written into `state`."""
    from django.db import connections, transaction

    from governance.models import Organization
    from governance.services import organization_create

    with transaction.atomic():
        organization = Organization.objects.filter(name=ORGANIZATION).first()
        if organization is None:
            organization = organization_create(name=ORGANIZATION)
        with demo_actor(organization):  # the history names `demo` for these edits
            for scenario in SCENARIOS.values():
                _project_ensure(organization, scenario, state)
            for username in USERS:
                _user_ensure(organization, username, state)
    connections.close_all()  # gunicorn's workers open their own
    return organization


def matrix_document(scenario: Scenario) -> dict[str, Any]:
    """The reference matrix as the scenario's project loads it: its own model mix as the drift
    reference, its own unit costs of enforcement and its profile (the advice's answers)."""
    document: dict[str, Any] = json.loads(MATRIX_FILE.read_text())
    document |= {
        "expected_shares": dict(scenario.model_shares),
        "settings": {**document["settings"], **scenario.economics.settings()},
    }
    if scenario.profile is not None:  # never `null`: that would remove one set in the admin
        document["profile"] = scenario.profile.document()
    return document


def _project_ensure(organization: Organization, scenario: Scenario, state: DemoState) -> None:
    from governance.matrix import matrix_load
    from governance.models import ApiKeyScope, Project, Service
    from governance.selectors import api_key_for_secret
    from governance.services import api_key_create, project_create, service_create

    name = scenario.project
    project = Project.objects.filter(organization=organization, name=name).first()
    if project is None:
        project = project_create(organization=organization, name=name)
    service = Service.objects.filter(project=project, name=SERVICE).first()
    if service is None:
        service = service_create(project=project, name=SERVICE)
    matrix_load(project=project, document=matrix_document(scenario))

    stored = state.keys.get(name)
    api_key = api_key_for_secret(stored) if stored else None
    usable = (
        api_key is not None
        and not api_key.is_revoked
        and api_key.scope == ApiKeyScope.INGEST
        and api_key.project_id == project.pk
    )
    if not usable:
        _, state.keys[name] = api_key_create(
            project=project, scope=ApiKeyScope.INGEST, service=service, name="demo"
        )


def demo_email(username: str) -> str:
    return f"{username}@{EMAIL_DOMAIN}"


def _user_ensure(organization: Organization, username: str, state: DemoState) -> None:
    """Create the user, or give one that exists the stored password and, when it has none,
    its email address (data from a demo older than the addresses)."""
    from django.contrib.auth.models import User

    from governance.services import user_create

    password = state.passwords.setdefault(username, secrets.token_urlsafe(12))
    user = User.objects.filter(username=username).first()
    if user is None:
        user = user_create(
            organization=organization, username=username, role=username, password=password
        )
    changed = []
    # Only when it differs: a new hash (a new salt) would sign every session of the user out.
    if not user.check_password(password):
        user.set_password(password)
        changed.append("password")
    if not user.email:  # an address someone set in the admin stays
        user.email = demo_email(username)
        changed.append("email")
    if changed:
        user.save(update_fields=changed)

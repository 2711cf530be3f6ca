"""`python -m tollgate.demo` (`make demo`): the product on embedded defaults, ready to try.

Migrates the embedded database, sets up the demo organization (a project per demo scenario with
a `router` service, the reference model matrix, the users ops / finance / admin and an ingest key
per project), starts gunicorn and a Celery worker and beat (the rollups run every 30 s), posts a
day of generated traffic through the real ingest API on the first run, rolls it up at once,
prints a summary of the metrics, the URLs and logins, and serves until Ctrl-C.

Passwords and keys are kept in `.data/demo-credentials.json` (mode 0600), so later runs reuse
them and start in seconds without posting traffic again.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import httpx

from tollgate.embedded import DATA_DIR, PROJECT_ROOT
from tollgate.traffic import SCENARIOS, batches, scenario_events

if TYPE_CHECKING:
    from governance.models import Organization

CREDENTIALS_FILE = DATA_DIR / "demo-credentials.json"
MATRIX_FILE = Path(__file__).resolve().parent / "demo_data" / "reference_matrix.json"
ORGANIZATION = "demo"
SERVICE = "router"
USERS = ("ops", "finance", "admin")  # each user's role is its name
REQUESTS_PER_SCENARIO = 2000
TRAFFIC_HOURS = 24
STARTUP_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
LOG_DIR = DATA_DIR / "logs"  # the Celery processes' output, rewritten on each run
BEAT_SCHEDULE_FILE = DATA_DIR / "celerybeat-schedule"
ROLLUP_RETRY_S = 1.0  # how long to wait when the worker holds the rollup lock


@dataclass
class DemoState:
    """What the credentials file remembers between runs."""

    passwords: dict[str, str]
    keys: dict[str, str]  # project name -> raw ingest key
    traffic_end: str | None = None  # the window of the first run's traffic, once chosen
    traffic_posted: bool = False

    @classmethod
    def load(cls) -> DemoState:
        if not CREDENTIALS_FILE.exists():
            return cls(passwords={}, keys={})
        data = json.loads(CREDENTIALS_FILE.read_text())
        return cls(
            passwords=dict(data.get("passwords", {})),
            keys=dict(data.get("keys", {})),
            traffic_end=data.get("traffic_end"),
            traffic_posted=bool(data.get("traffic_posted", False)),
        )

    def save(self) -> None:
        """Write the file atomically, readable by its owner only."""
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        temporary = CREDENTIALS_FILE.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, CREDENTIALS_FILE)


class Stop(Exception):
    """Raised from the SIGTERM handler so that SIGTERM and Ctrl-C stop the same way."""


def main() -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, _raise_stop)
    processes: dict[str, subprocess.Popen[bytes]] = {}  # what to stop on the way out
    try:
        print(f"Tollgate demo: data in {DATA_DIR}")
        port = int(os.environ.get("TOLLGATE_PORT", "8000"))
        if not _port_free(port):
            print(f"Port {port} is in use; stop what runs there or set TOLLGATE_PORT.")
            return 1
        _django_setup()
        state = DemoState.load()
        _demo_data_ensure(state)
        state.save()
        base_url = f"http://127.0.0.1:{port}"
        server = processes["web server"] = _server_start(port)
        if not _server_wait(server, base_url):
            print("The web server did not start; see its output above.")
            return 1
        _celery_start(processes)
        if not state.traffic_posted:
            _traffic_post(state, base_url)
        _rollups_catch_up()
        _metrics_print(state)
        if not _celery_wait(processes):
            return 1
        _instructions_print(state, base_url)
        code = server.wait()
        print(f"The web server stopped (exit code {code}).")
        return 0 if code == 0 else 1
    except (KeyboardInterrupt, Stop):
        print("\nStopping...")
        return 0
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"\nThe demo failed: {exc}")
        return 1
    finally:
        _processes_stop(processes)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _django_setup() -> None:
    """Settings start (or attach to) the embedded PostgreSQL; then migrate quietly."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tollgate.settings")
    import django
    from django.core.management import call_command

    print("Starting the database and applying migrations...")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def _demo_data_ensure(state: DemoState) -> None:
    """The organization, projects, services, matrix, users and keys, created when missing."""
    from django.db import connections, transaction

    from governance.models import Organization
    from governance.services import organization_create

    with transaction.atomic():
        organization = Organization.objects.filter(name=ORGANIZATION).first()
        if organization is None:
            organization = organization_create(name=ORGANIZATION)
        for scenario in SCENARIOS.values():
            _project_ensure(organization, scenario.project, dict(scenario.model_shares), state)
        for username in USERS:
            _user_ensure(organization, username, state)
    connections.close_all()  # gunicorn's workers open their own


def _project_ensure(
    organization: Organization, name: str, shares: dict[str, float], state: DemoState
) -> None:
    from governance.matrix import matrix_load
    from governance.models import ApiKeyScope, Project, Service
    from governance.selectors import api_key_for_secret
    from governance.services import api_key_create, project_create, service_create

    project = Project.objects.filter(organization=organization, name=name).first()
    if project is None:
        project = project_create(organization=organization, name=name)
    service = Service.objects.filter(project=project, name=SERVICE).first()
    if service is None:
        service = service_create(project=project, name=SERVICE)
    # The reference matrix, with the scenario's own model mix as the drift reference.
    document = json.loads(MATRIX_FILE.read_text())
    matrix_load(project=project, document={**document, "expected_shares": shares})

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


def _user_ensure(organization: Organization, username: str, state: DemoState) -> None:
    """Create the user, or set the stored password again on one that exists."""
    from django.contrib.auth.models import User

    from governance.services import user_create

    password = state.passwords.setdefault(username, secrets.token_urlsafe(12))
    user = User.objects.filter(username=username).first()
    if user is None:
        user_create(organization=organization, username=username, role=username, password=password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])


def _child_env() -> dict[str, str]:
    """The environment of the web server and Celery: this one (embedded defaults), importable."""
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath}


def _server_start(port: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "tollgate.wsgi:application", "--workers", "2"]
    command += ["--bind", f"127.0.0.1:{port}"]
    print(f"Starting the web server on port {port}...")
    return subprocess.Popen(  # noqa: S603 (a fixed command line, no shell)
        command, cwd=PROJECT_ROOT, env=_child_env()
    )


def _server_wait(server: subprocess.Popen[bytes], base_url: str) -> bool:
    """Poll the login page until it answers; False if gunicorn exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            if httpx.get(f"{base_url}/admin/login/", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return False


def _celery_start(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Add a Celery worker (one pool process) and beat, each writing to its own log file."""
    celery = [str(Path(sys.executable).with_name("celery")), "-A", "tollgate"]
    commands = {
        "Celery worker": [
            *celery,
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--hostname=tollgate-demo@%h",
        ],
        "Celery beat": [
            *celery,
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(BEAT_SCHEDULE_FILE),
        ],
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    print(f"Starting the Celery worker and beat (logs in {LOG_DIR})...")
    # In a session of their own, stopped by the demo alone (SIGTERM, a warm shutdown): Ctrl-C
    # in the terminal would also hit the worker's pool process behind the worker's back.
    for name, command in commands.items():
        with _log_file(name).open("wb") as log:  # the child keeps its own descriptor
            processes[name] = subprocess.Popen(  # noqa: S603 (a fixed command line, no shell)
                command,
                cwd=PROJECT_ROOT,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _log_file(name: str) -> Path:
    return LOG_DIR / (name.lower().replace(" ", "-") + ".log")


def _celery_wait(processes: dict[str, subprocess.Popen[bytes]]) -> bool:
    """Wait until the worker consumes tasks; False (and why) if worker or beat exits first."""
    worker, log = processes["Celery worker"], _log_file("Celery worker")
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for name in ("Celery worker", "Celery beat"):
            code = processes[name].poll()
            if code is not None:
                print(f"The {name} exited (code {code}); see {_log_file(name)}.")
                return False
        if " ready." in log.read_text(errors="replace"):
            print(
                f"Celery worker and beat are running: new events reach the metrics within "
                f"{_rollup_period_s():.0f} s."
            )
            return True
        time.sleep(0.3)
    print(f"The Celery worker did not get ready (pid {worker.pid}); see {log}.")
    return False


def _rollup_period_s() -> float:
    from django.conf import settings

    return float(settings.CELERY_BEAT_SCHEDULE["rollup-advance"]["schedule"])


def _processes_stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all (a graceful stop), then SIGKILL to any still there after 30 s."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, process in processes.items():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            print(f"The {name} did not stop in {STOP_TIMEOUT_S} s; killing it.")
            process.kill()
            process.wait()
    if processes:
        print(f"Stopped: {', '.join(processes)}.")


def _traffic_post(state: DemoState, base_url: str) -> None:
    """Post the first run's sample traffic through the ingest API, with a progress line.

    The window is saved before posting, so a run interrupted half-way posts the same events
    again next time (counted as duplicates) instead of a second, different day.
    """
    end = datetime.fromisoformat(state.traffic_end) if state.traffic_end else None
    if end is None or end < datetime.now(UTC) - timedelta(days=80):
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        state.traffic_end = end.isoformat()
        state.save()
    start = end - timedelta(hours=TRAFFIC_HOURS)
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    interactive = sys.stdout.isatty()
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for key, scenario in SCENARIOS.items():
            rng = random.Random(f"tollgate-demo-{key}")  # noqa: S311 (demo data, not secrets)
            events = scenario_events(
                scenario, start=start, end=end, requests=REQUESTS_PER_SCENARIO, rng=rng
            )
            headers = {"Authorization": f"Bearer {state.keys[scenario.project]}"}
            sent, line = 0, ""
            for batch in batches(events):
                answer = _batch_post(client, headers, batch)
                for name in totals:
                    totals[name] += answer[name]
                sent += len(batch)
                line = f"Posting a day of traffic: {scenario.project} {sent:,} events"
                if interactive:  # one line rewritten in place
                    print(f"\r{line}", end="", flush=True)
            print(f"\r{line}" if interactive else line, flush=True)
    state.traffic_posted = True
    state.save()
    print(
        f"Traffic posted: {totals['accepted']:,} accepted, {totals['duplicates']:,} duplicates, "
        f"{totals['rejected']:,} rejected."
    )


def _rollups_catch_up() -> None:
    """Fold every event posted so far into the rollups now, not at the worker's next run; when
    the worker holds the rollup lock, wait and go on after it."""
    from django.db import connections

    from analytics.rollup import rollups_advance

    print("Rolling up the events...")
    events = 0
    while True:
        run = rollups_advance(max_seconds=float("inf"))
        events += run.total_events
        if not run.skipped_locked:
            break
        time.sleep(ROLLUP_RETRY_S)
    connections.close_all()
    print(f"Rollups up to date ({events:,} events folded in now).")


def _metrics_print(state: DemoState) -> None:
    """One line of headline figures over every demo project, since the demo traffic began."""
    from django.db import connections
    from django.utils import timezone

    from analytics.selectors import MetricsQuery, metrics_summary
    from analytics.window import Window
    from governance.models import Project

    end = timezone.now()
    traffic_end = datetime.fromisoformat(state.traffic_end) if state.traffic_end else end
    start = traffic_end - timedelta(hours=TRAFFIC_HOURS)
    projects = tuple(Project.objects.filter(organization__name=ORGANIZATION).order_by("name"))
    summary = metrics_summary(MetricsQuery(window=Window.of(start, end), projects=projects))
    connections.close_all()
    print(
        f"Metrics since {start:%Y-%m-%d %H:%M} UTC, {len(projects)} projects: "
        f"{summary['requests']:,} requests, {summary['attempts']:,} attempts, "
        f"cost ${Decimal(summary['cost_usd']):,.2f}."
    )


def _batch_post(
    client: httpx.Client, headers: dict[str, str], batch: list[dict[str, Any]]
) -> dict[str, Any]:
    """One batch, retried after Retry-After on 429 and 503; any other failure raises."""
    while True:
        response = client.post("/api/v1/ingest", json={"batch": batch}, headers=headers)
        if response.status_code in (429, 503):
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        if response.status_code not in (200, 207):
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
        return response.json()


def _instructions_print(state: DemoState, base_url: str) -> None:
    project, key = next(iter(state.keys.items()))
    event = {
        "type": "routing",
        "event_id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "request_id": "req-try-1",
        "model": "gpt-5.4",
        "mode": "hybrid",
        "input_tokens": 1200,
        "output_tokens": 300,
        "latency_ms": 180,
        "status": "ok",
    }
    curl = (
        f"curl -sS -X POST {base_url}/api/v1/ingest -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps({'batch': [event]}))}"
    )
    width = max(len(name) for name in USERS)
    logins = "\n".join(
        f"    {name:<{width}}  {state.passwords[name]}" + ("  (Django admin)" * (name == "admin"))
        for name in USERS
    )
    keys = "\n".join(f"    {name:<18}  {raw}" for name, raw in state.keys.items())
    print(
        f"\nTollgate is running.\n"
        f"  Admin:     {base_url}/admin/\n"
        f"  API docs:  {base_url}/api/docs/\n"
        f"  Logins (organization {ORGANIZATION!r}; kept in {CREDENTIALS_FILE}):\n{logins}\n"
        f"  Ingest keys (service {SERVICE!r} of each project):\n{keys}\n"
        f"  Post an event to {project}:\n    {curl}\n"
        f"Ctrl-C stops everything.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())

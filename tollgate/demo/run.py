"""`python -m tollgate.demo` (`make demo`): the product on embedded defaults, ready to try.

Migrates the embedded database and sets up the demo organization (`tollgate.demo.tenant`: a
project per traffic scenario, the users ops / finance / admin, an ingest key per project) with
its alert rules and budgets (`tollgate.demo.alerts`), and starts gunicorn. The first run posts
a week of generated traffic with incidents through the real ingest API (`tollgate.demo.live`),
rolls it up, sizes the overrunning budget and replays the alert evaluation of the last hours.
Then a Celery worker and beat start, live traffic keeps arriving, and the URLs and logins are
printed. Ctrl-C (or SIGTERM) stops every process the demo started.

Passwords, keys and where the traffic stands are kept in `.data/demo-credentials.json` (mode
0600), so a later run reuses them, tops up the time the demo was stopped in the background and
is up in seconds.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

import httpx

from tollgate.demo.live import HISTORY, LiveTraffic, week_post
from tollgate.demo.paths import paths_words
from tollgate.demo.poster import PostError
from tollgate.demo.processes import (
    Processes,
    celery_start,
    celery_wait,
    port_free,
    processes_stop,
    server_start,
    server_wait,
)
from tollgate.demo.simulation import minute_floor
from tollgate.demo.tenant import (
    CREDENTIALS_FILE,
    ORGANIZATION,
    SERVICE,
    USERS,
    DemoState,
    demo_tenant_ensure,
)
from tollgate.embedded import DATA_DIR

if TYPE_CHECKING:
    from governance.models import Organization

ROLLUP_RETRY_S = 1.0  # how long to wait when the worker holds the rollup lock
REPLAY = timedelta(hours=3)  # the alert evaluation replayed on the first run
REPLAY_STEP = timedelta(minutes=5)
MAX_HISTORY_AGE = timedelta(days=80)  # older, the week nears the retention limit: post anew


class Stop(Exception):
    """Raised from the SIGTERM handler so that SIGTERM and Ctrl-C stop the same way."""


def main() -> int:
    started = time.monotonic()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, _raise_stop)
    processes: Processes = {}  # what to stop on the way out
    live: LiveTraffic | None = None
    try:
        print(f"Tollgate demo: data in {DATA_DIR}")
        port = int(os.environ.get("TOLLGATE_PORT", "8000"))
        if not port_free(port):
            print(f"Port {port} is in use; stop what runs there or set TOLLGATE_PORT.")
            return 1
        _django_setup()
        state = DemoState.load()
        first_run = _first_run_prepare(state)
        organization = demo_tenant_ensure(state)
        if first_run:
            _rules_load(organization)
        state.save()
        base_url = f"http://127.0.0.1:{port}"
        server = processes["web server"] = server_start(port)
        if not server_wait(server, base_url):
            print("The web server did not start; see its output above.")
            return 1
        if first_run:
            _week_post(state, base_url)
        _rollups_catch_up()
        _alerts_raise(first_run=first_run, anchor=state.anchor)
        celery_start(processes)
        if not celery_wait(processes):
            return 1
        live = LiveTraffic(state, base_url)
        live.start()
        _metrics_print()
        _instructions_print(state, base_url, live, ready_s=time.monotonic() - started)
        code = server.wait()
        print(f"The web server stopped (exit code {code}).")
        return 0 if code == 0 else 1
    except (KeyboardInterrupt, Stop):
        print("\nStopping...")
        return 0
    except (RuntimeError, PostError, httpx.HTTPError) as exc:
        print(f"\nThe demo failed: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if live is not None:
            live.stop()
        processes_stop(processes)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def _django_setup() -> None:
    """Settings start (or attach to) the embedded PostgreSQL; then migrate quietly."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tollgate.settings")
    import django
    from django.core.management import call_command

    print("Starting the database and applying migrations...")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def _first_run_prepare(state: DemoState) -> bool:
    """Whether this run posts the week of traffic; if so, the week's end is chosen and saved
    first, so a run interrupted half-way posts the same events again (duplicates) next time."""
    now = datetime.now(UTC)
    anchor = state.anchor
    if state.traffic_posted and anchor is not None and anchor > now - MAX_HISTORY_AGE:
        return False
    if anchor is None or anchor < now - MAX_HISTORY_AGE:
        state.traffic_end = minute_floor(now).isoformat()
        state.resume_from = None
    state.traffic_posted = False
    state.save()
    return True


def _rules_load(organization: Organization) -> None:
    """Only on the first run: afterwards the rules are the admins' to change."""
    from tollgate.demo.alerts import demo_rules_load  # imports models: after django.setup()

    demo_rules_load(organization)


def _week_post(state: DemoState, base_url: str) -> None:
    started = time.monotonic()
    totals, resume = week_post(state, base_url)
    state.traffic_posted, state.resume_from = True, resume.isoformat()
    state.save()
    print(f"Posted {totals.summary()} in {time.monotonic() - started:.0f} s.")


def _rollups_catch_up() -> None:
    """Fold every event posted so far into the rollups now, not at the worker's next run; when
    another worker holds the rollup lock, wait and go on after it."""
    from django.db import connections

    from analytics.services import rollups_advance

    print("Rolling up the events...")
    started, events = time.monotonic(), 0
    while True:
        run = rollups_advance(max_seconds=float("inf"))
        events += run.total_events
        if not run.skipped_locked:
            break
        time.sleep(ROLLUP_RETRY_S)
    connections.close_all()
    print(f"Rollups up to date ({events:,} events in {time.monotonic() - started:.0f} s).")


def _alerts_raise(*, first_run: bool, anchor: datetime | None) -> None:
    """The first run sizes the overrunning budget and replays the last hours of evaluation;
    later runs evaluate once. Then the alerts are listed."""
    from django.db import connections

    from analytics.services import alerts_evaluate, notifications_send
    from governance.models import Organization
    from tollgate.demo.alerts import alerts_overview, alerts_replay, overrun_budget_size

    organization = Organization.objects.get(name=ORGANIZATION)
    now = minute_floor(datetime.now(UTC))
    if first_run and anchor is not None:
        overrun_budget_size(organization, now)
        # From before the outage began (an interrupted first run resumed later: the last hours).
        start = max(anchor - REPLAY, now - 2 * REPLAY)
        replay = alerts_replay(start=start, end=now, step=REPLAY_STEP)
        print(
            f"Alert evaluation replayed over the last {REPLAY.total_seconds() / 3600:.0f} hours: "
            f"{len(replay.transitions)} changes, {replay.notifications} emails queued, "
            f"{replay.sent} sent."
        )
    elif alerts_evaluate(now=now).notifications:
        notifications_send()  # as the evaluation task does; the worker is not up yet
    lines = alerts_overview(organization)
    print(f"Alerts ({len(lines)}):" if lines else "Alerts: none.")
    for line in lines:
        print(f"  {line}")
    connections.close_all()


def _metrics_print() -> None:
    """One line of headline figures over every demo project, for the last week."""
    from django.db import connections
    from django.utils import timezone

    from analytics.selectors import MetricsQuery, Window, metrics_summary
    from governance.models import Project

    end = timezone.now()
    start = end - HISTORY
    projects = tuple(Project.objects.filter(organization__name=ORGANIZATION).order_by("name"))
    summary = metrics_summary(MetricsQuery(window=Window.of(start, end), projects=projects))
    connections.close_all()
    print(
        f"Last 7 days, {len(projects)} projects: {summary.requests:,} requests, "
        f"{summary.attempts:,} attempts, cost ${summary.cost_usd:,.2f}."
    )


def _instructions_print(
    state: DemoState, base_url: str, live: LiveTraffic, *, ready_s: float
) -> None:
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
        f"    {name:<{width}}  {state.passwords[name]}"
        + ("  (also the Django admin)" * (name == "admin"))
        for name in USERS
    )
    keys = "\n".join(f"    {name:<18}  {raw}" for name, raw in state.keys.items())
    gap = live.gap.total_seconds()
    top_up = f" (first topping up the last {gap / 3600:.1f} h)" if gap >= 120 else ""
    print(
        f"\nTollgate is running (ready in {ready_s:.0f} s).\n"
        f"  Dashboard: {base_url}/dashboard/   (log in at {base_url}/accounts/login/)\n"
        f"  Admin:     {base_url}/admin/\n"
        f"  API docs:  {base_url}/api/docs/\n"
        f"  Logins (organization {ORGANIZATION!r}; kept in {CREDENTIALS_FILE}):\n{logins}\n"
        f"  Ingest keys (service {SERVICE!r} of each project):\n{keys}\n"
        f"  Post an event to {project}:\n    {curl}\n"
        f"Live traffic: about {live.live_plan.requests_per_hour() / 60:.0f} requests a minute "
        f"across the five projects, the history's pace{top_up}; new events reach the metrics "
        f"within a minute.\n"
        f"  Live paths: {paths_words()}.\n"
        f"Ctrl-C stops everything.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())

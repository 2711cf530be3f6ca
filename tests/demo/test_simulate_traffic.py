"""`manage.py simulate_traffic`: one-line errors on bad arguments, and real posts to a server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import ApiKey, Project
from governance.services import organization_create
from ingestion.models import EnforcementEvent, RoutingEvent
from tollgate.demo.tenant import ORGANIZATION, DemoState, demo_tenant_ensure

ROOT = Path(__file__).resolve().parents[2]


def simulate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("simulate_traffic", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "demo", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["--scenario", "all"], "one of the arguments --key --org is required"),
        (["--key", "tg_x_y", "--org", "demo"], "not allowed with argument"),
        (["--key", "tg_x_y"], "--key posts to one project: name exactly one --scenario"),
        (["--org", "demo", "--days", "-1"], "--days must be between 0 and 89"),
        (["--org", "demo", "--days", "120"], "--days must be between 0 and 89"),
        (["--org", "demo", "--days", "0"], "nothing to post: give --days above 0, or --live"),
        (["--org", "demo", "--live", "--rate", "0"], "--rate must be above 0"),
        (["--org", "demo", "--concurrency", "0"], "--concurrency must be between 1 and 16"),
        (["--org", "demo", "--days", "soon"], "invalid float value: 'soon'"),
    ],
)
def test_bad_arguments_fail_with_one_line(args, message):
    with pytest.raises(CommandError) as raised:
        simulate(*args)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.django_db
def test_unknown_organization_or_missing_project_is_one_line():
    with pytest.raises(CommandError, match=r"^organization 'nowhere' does not exist$"):
        simulate("--org", "nowhere")
    organization_create(name="bare")
    with pytest.raises(CommandError, match=r"project 'content-platform' does not exist in 'bare'"):
        simulate("--org", "bare", "--scenario", "content-platform")
    assert not ApiKey.objects.exists()  # nothing half-made: the keys come all or none


def test_from_the_command_line_a_bad_scenario_exits_2_with_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "manage.py", "simulate_traffic", "--org", "demo", "--scenario", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "unknown scenario 'x'" in done.stderr


@pytest.fixture
def demo_tenant(transactional_db) -> DemoState:
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    return state


@pytest.mark.django_db(transaction=True)  # the raw tables are emptied after it
def test_posts_through_a_live_server_with_temporary_keys(live_server, demo_tenant):
    out, err = simulate(
        "--org",
        ORGANIZATION,
        "--scenario",
        "content-platform",
        "--scenario",
        "medical_assistant",
        "--days",
        "0.02",  # about half an hour: a few hundred requests
        "--url",
        live_server.url,
    )
    posted = {
        project.name: RoutingEvent.objects.filter(project_id=project.pk).count()
        + EnforcementEvent.objects.filter(project_id=project.pk).count()
        for project in Project.objects.filter(organization__name=ORGANIZATION)
    }
    assert posted["content-platform"] > 100 and posted["medical-assistant"] > 100
    assert posted["customer-service"] == posted["research-assistant"] == 0
    assert f"posted {sum(posted.values()):,} events" in out
    assert " 0 rejected" in out
    assert "100.0%" in err and "events/s" in err  # the progress bar, on stderr
    # Keys are made for the run and revoked after it; the demo's own keys stay usable.
    temporary = ApiKey.objects.filter(name="simulate_traffic")
    assert temporary.count() == 2
    assert not temporary.filter(revoked_at__isnull=True).exists()
    assert ApiKey.objects.filter(name="demo", revoked_at__isnull=True).count() == 5

    out, _ = simulate(  # the same minutes again, through an existing key: duplicates
        "--key",
        demo_tenant.keys["content-platform"],
        "--scenario",
        "content_platform",
        "--days",
        "0.02",
        "--url",
        live_server.url,
    )
    counts = re.search(r"([\d,]+) accepted, ([\d,]+) duplicates", out)
    assert counts is not None, out
    accepted, duplicates = (int(number.replace(",", "")) for number in counts.groups())
    assert duplicates > 10 * accepted  # at most the minute that passed in between is new

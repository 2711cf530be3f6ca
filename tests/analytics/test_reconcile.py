"""Reconciliation of raw events with rollups (analytics.rollups.reconcile).

A healthy database, on realistic traffic with late enforcement events, replays, reported and
unpriced costs and events the rollup job has not reached yet, shows no mismatch. A rollup row
deleted by hand, a corrupted sum, or an event the watermark passed without folding it is found
as exactly its hour; the rebuild restores every rollup row and request fact exactly, twice
changes nothing, and resolves the record; the alert fires and resolves through the outbox; the
commands' output, exit codes and tenant scoping; the beat task.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Sum

from analytics.alerts.evaluation import alerts_evaluate
from analytics.models import (
    Alert,
    AlertState,
    AttemptRollup,
    Grain,
    LayerRollup,
    Notification,
    Repricing,
    RequestFact,
    RequestRollup,
    RollupMismatch,
    Watermark,
)
from analytics.repricing.job import repricings_advance
from analytics.rollups import rebuild as rebuild_module
from analytics.rollups import reconcile as reconcile_module
from analytics.rollups.job import ROLLUP_LOCK_KEY, rollups_advance
from analytics.rollups.rebuild import rollups_rebuild
from analytics.rollups.reconcile import rollups_compare, rollups_reconcile
from analytics.tasks import rollups_reconcile as rollups_reconcile_task
from governance.models import AlertRule, MatrixModel, Membership, ModelPrice, Role
from governance.services import (
    api_key_create,
    organization_create,
    project_create,
    service_create,
)
from tests.conftest import enforcement_event, routing_event
from tollgate.demo.traffic import SCENARIOS, scenario_events

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = NOW - timedelta(hours=4)
ROLLUPS = (AttemptRollup, RequestRollup, LayerRollup)


def _accepted(post_batch, events: list[dict[str, Any]]) -> int:
    response = post_batch(events)
    assert response.status_code == 200, response.content
    return response.json()["accepted"]


@pytest.fixture
def traffic(post_batch, project) -> dict[str, Any]:
    """Four hours of the customer-service scenario, folded in the way real traffic is:
    routing events and the first checks first, the remaining checks in later batches (after
    their requests were folded), replays of earlier batches, attempts with a reported cost
    and with a model the matrix does not price, requests blocked before any attempt, and a
    last batch the rollup job has not reached."""
    events = list(
        scenario_events(
            SCENARIOS["customer_service"],
            start=START,
            end=NOW - timedelta(minutes=1),
            requests=120,
            rng=random.Random(12),
        )
    )
    checks = [event for event in events if event["type"] == "enforcement"]
    first = [event for event in events if event["type"] == "routing"] + checks[::2]
    late = checks[1::2]
    for index in range(0, len(first), 300):
        _accepted(post_batch, first[index : index + 300])
    rollups_advance(max_seconds=float("inf"))

    extra = []
    for minute in range(0, 240, 37):
        at = (START + timedelta(minutes=minute, seconds=13)).isoformat()
        extra.append(routing_event(timestamp=at, cost_usd="0.01234567"))
        extra.append(routing_event(timestamp=at, model="unlisted-model"))
        extra.append(enforcement_event(timestamp=at, verdict="block"))  # no attempt at all
    assert _accepted(post_batch, late[: len(late) // 2] + extra) > 0
    assert _accepted(post_batch, first[:300]) == 0  # a replay: duplicates only
    rollups_advance(max_seconds=float("inf"))
    assert _accepted(post_batch, late[len(late) // 2 :]) > 0
    assert _accepted(post_batch, extra) == 0
    rollups_advance(max_seconds=float("inf"))

    unfolded = [routing_event(timestamp=(START + timedelta(minutes=5)).isoformat())]
    assert _accepted(post_batch, unfolded) == 1  # past the watermark: in neither side yet
    return {"events": len(events) + len(extra)}


def _hour_row(model: Any, project, hour: datetime):
    return model.objects.filter(project_id=project.pk, grain=Grain.HOUR, bucket=hour).first()


def _exact(value: Any) -> Any:
    """A stored value as compared: sketches as bytes; a float sum (latency totals) to nine
    places, because the job adds a late event's latency to a stored sum where a rebuild
    sums all at once, and float addition depends on the order (as between any two chunkings
    of the job itself). Everything else exactly: counts, money, sketches, times, text."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float):
        return round(value, 9)
    return value


def _snapshot() -> dict[str, list[tuple]]:
    """Every rollup row and request fact, each column as stored (ids aside)."""
    snapshot = {}
    for model in (*ROLLUPS, RequestFact):
        names = [str(f.column) for f in model._meta.concrete_fields if f.column != "id"]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(names)} FROM {model._meta.db_table} "  # noqa: S608
                f"ORDER BY {', '.join(n for n in names if 'sketch' not in n)}"
            )
            snapshot[model.__name__] = [tuple(map(_exact, row)) for row in cursor.fetchall()]
    return snapshot


def _assert_same(after: dict[str, list[tuple]], before: dict[str, list[tuple]]) -> None:
    """Every row and column equal; a failure names the table and the differing rows."""
    for table, rows in before.items():
        missing = [row for row in rows if row not in after[table]]
        extra = [row for row in after[table] if row not in rows]
        assert (missing, extra) == ([], []), f"{table}: {missing} != {extra}"


def _busiest_hour(project) -> datetime:
    row = (
        AttemptRollup.objects.filter(project_id=project.pk, grain=Grain.HOUR)
        .order_by("-attempts")
        .first()
    )
    assert row is not None
    return row.bucket


def test_healthy_traffic_shows_no_mismatch(traffic, project):
    judged, differences = rollups_compare()
    assert differences == []
    assert judged >= 4  # the four hours of traffic (five when it straddles one more)
    run = rollups_reconcile()
    assert run.differences == [] and run.opened == 0
    assert not RollupMismatch.objects.exists()


def test_a_back_dated_price_change_keeps_rollups_and_raw_events_agreeing(traffic, project):
    """Before its repricing job has run (old prices on both sides) and after (new on both)."""
    ModelPrice.objects.create(
        model=MatrixModel.objects.get(project=project, name="gpt-5.4"),
        effective_from=START,
        input_per_1k=Decimal("0.011"),
        output_per_1k=Decimal("0.033"),
    )
    assert Repricing.objects.filter(project=project).exists()
    assert rollups_compare()[1] == []
    cost_before = AttemptRollup.objects.filter(grain=Grain.HOUR).aggregate(c=Sum("cost_usd"))
    assert repricings_advance(max_seconds=float("inf"), now=NOW + timedelta(hours=2)).finished
    cost_after = AttemptRollup.objects.filter(grain=Grain.HOUR).aggregate(c=Sum("cost_usd"))
    assert cost_after["c"] > cost_before["c"]  # the repricing did change the figures
    assert rollups_compare()[1] == []


def test_the_rebuild_holds_the_rollup_lock(traffic, project, monkeypatch):
    """While an hour is rebuilt, no rollup worker (another session) can take the lock."""
    settings = connection.settings_dict
    taken_by_other = []
    real_hour_rebuild = rebuild_module.hour_rebuild

    def hour_rebuild(**kwargs: Any) -> None:
        with psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"],
            host=settings["HOST"],
            port=settings["PORT"] or None,
            autocommit=True,
        ) as other:
            taken_by_other.append(
                other.execute("SELECT pg_try_advisory_lock(%s)", [ROLLUP_LOCK_KEY]).fetchall()[0][0]
            )
        real_hour_rebuild(**kwargs)

    monkeypatch.setattr(rebuild_module, "hour_rebuild", hour_rebuild)
    hour = _busiest_hour(project)
    assert rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=2)).hours == 2
    assert taken_by_other == [False, False]
    assert rollups_advance(max_seconds=float("inf")).skipped_locked is False  # released after


def test_a_deleted_rollup_row_is_found_and_rebuilt_exactly(traffic, project):
    hour = _busiest_hour(project)
    before = _snapshot()
    rows = AttemptRollup.objects.filter(project_id=project.pk, grain=Grain.HOUR, bucket=hour)
    attempts = sum(row.attempts for row in rows)
    deleted = rows.order_by("-attempts")[0]  # one of the hour's rows (one per model, ...)
    AttemptRollup.objects.filter(pk=deleted.pk).delete()

    run = rollups_reconcile()
    assert [(d.project_id, d.hour) for d in run.differences] == [(project.pk, hour)]
    figures = run.differences[0].figures
    assert figures["attempts"] == (attempts, attempts - deleted.attempts)
    raw_cost, rollup_cost = figures["cost_usd"]
    assert raw_cost - rollup_cost == deleted.cost_usd
    assert set(figures) == {"attempts", "input_tokens", "output_tokens", "cost_usd"}
    mismatch = RollupMismatch.objects.get()
    assert mismatch.resolved_at is None and mismatch.hour == hour
    assert mismatch.figures["attempts"] == {
        "raw": str(attempts),
        "rollup": str(attempts - deleted.attempts),
    }

    rebuilt = rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=1))
    assert rebuilt.hours == 1 and rebuilt.resolved == 1 and rebuilt.still_differing == []
    _assert_same(_snapshot(), before)  # every row, every column, as the rollup job made them
    mismatch.refresh_from_db()
    assert mismatch.resolved_at is not None and mismatch.resolved_by == "rebuild"

    rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=1))
    _assert_same(_snapshot(), before)  # a second rebuild changes nothing
    assert rollups_reconcile().differences == []


def test_a_corrupted_sum_is_found_until_a_check_sees_it_whole(traffic, project):
    hour = _busiest_hour(project)
    before = _snapshot()
    layer = LayerRollup.objects.filter(project_id=project.pk, grain=Grain.HOUR, bucket=hour)[0]
    LayerRollup.objects.filter(pk=layer.pk).update(checks=layer.checks + 2)
    attempt = _hour_row(AttemptRollup, project, hour)
    AttemptRollup.objects.filter(pk=attempt.pk).update(cost_usd=attempt.cost_usd + Decimal("1"))

    first = rollups_reconcile()
    assert [(d.project_id, d.hour) for d in first.differences] == [(project.pk, hour)]
    assert set(first.differences[0].figures) == {"checks", "cost_usd"}
    raw_cost, rollup_cost = first.differences[0].figures["cost_usd"]
    assert rollup_cost - raw_cost == Decimal("1")
    second = rollups_reconcile()  # still wrong: the same record, seen again
    assert second.opened == 0 and RollupMismatch.objects.count() == 1

    call_command("rollups_rebuild", "acme", "support", "--from", hour.isoformat(), "--to",
                 (hour + timedelta(minutes=30)).isoformat())  # fmt: skip
    _assert_same(_snapshot(), before)
    # The rebuild resolved it; a check (the beat's) confirms and resolves nothing more.
    assert RollupMismatch.objects.get().resolved_by == "rebuild"
    assert rollups_reconcile().resolved == 0


def test_a_check_resolves_a_mismatch_that_was_repaired_otherwise(traffic, project):
    hour = _busiest_hour(project)
    row = _hour_row(RequestRollup, project, hour)
    RequestRollup.objects.filter(pk=row.pk).update(requests=row.requests + 1)
    assert rollups_reconcile().opened == 1
    RequestRollup.objects.filter(pk=row.pk).update(requests=row.requests)
    run = rollups_reconcile()
    assert run.resolved == 1 and run.differences == []
    assert RollupMismatch.objects.get().resolved_by == "check"


def test_an_event_the_watermark_passed_unfolded_is_found_and_rebuilt(traffic, project, post_batch):
    """The loss of issue 12: the watermark moved past an event that was never folded."""
    rollups_advance(max_seconds=float("inf"))  # the unfolded event of the fixture too
    lost_at = START + timedelta(minutes=90, seconds=7)
    lost = [
        routing_event(timestamp=lost_at.isoformat(), request_id="lost-request"),
        enforcement_event(timestamp=lost_at.isoformat(), request_id="lost-request"),
    ]
    assert _accepted(post_batch, lost) == 2
    with connection.cursor() as cursor:  # move the watermarks past them, as the bug did
        for table, stream in (("routingevent", "routing"), ("enforcementevent", "enforcement")):
            cursor.execute(
                f"SELECT ingest_xid::text::bigint, seq FROM ingestion_{table} "  # noqa: S608
                "ORDER BY ingest_xid DESC, seq DESC LIMIT 1"
            )
            xid, seq = cursor.fetchone()
            Watermark.objects.filter(stream=stream).update(xid=xid, seq=seq)
    hour = lost_at.replace(minute=0, second=0)

    run = rollups_reconcile()
    assert [(d.project_id, d.hour) for d in run.differences] == [(project.pk, hour)]
    figures = run.differences[0].figures
    assert figures["attempts"][0] == figures["attempts"][1] + 1
    assert figures["checks"][0] == figures["checks"][1] + 1
    assert figures["requests"][0] == figures["requests"][1] + 1
    assert not RequestFact.objects.filter(request_id="lost-request").exists()

    rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=1))
    assert rollups_reconcile().differences == []
    fact = RequestFact.objects.get(request_id="lost-request")
    assert (fact.attempts, fact.checks, fact.first_seen) == (1, 1, lost_at)

    # Exactly what the rollup job makes of the same events from scratch.
    rebuilt = _snapshot()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE analytics_watermark, analytics_requestfact, analytics_attemptrollup, "
            "analytics_requestrollup, analytics_layerrollup"
        )
    rollups_advance(max_seconds=float("inf"))
    _assert_same(_snapshot(), rebuilt)


def test_a_check_and_a_rebuild_take_turns(traffic, project, monkeypatch):
    """Both compare under the reconciliation lock: a check cannot record what it saw before a
    rebuild committed (reopening the hour just repaired), nor two checks cross."""
    held = []
    compare = reconcile_module.rollups_compare

    def compare_watched(**span: Any):
        with psycopg.connect(**connection.get_connection_params()) as other:
            ((free,),) = other.execute(
                "SELECT pg_try_advisory_lock(%s)", [reconcile_module.RECONCILE_LOCK_KEY]
            ).fetchall()
        held.append(not free)
        return compare(**span)

    monkeypatch.setattr(reconcile_module, "rollups_compare", compare_watched)
    monkeypatch.setattr(rebuild_module, "rollups_compare", compare_watched)
    rollups_reconcile()
    rollups_rebuild(project=project, start=START, end=START + timedelta(hours=1))
    assert held == [True, True]


def test_hours_whose_raw_partition_is_gone_are_not_judged(traffic, project):
    """Retention drops raw months while their rollups stay: that is no mismatch."""
    AttemptRollup.objects.create(
        grain=Grain.HOUR,
        bucket=datetime(2020, 1, 1, 5, tzinfo=UTC),
        project_id=project.pk,
        service_id=1,
        environment="production",
        model="gpt-5.4",
        provider="openai",
        mode="hybrid",
        attempts=3,
    )
    assert rollups_reconcile().differences == []

    # Nor is it rebuilt from nothing: its rollups are all that is left of it.
    hour = datetime(2020, 1, 1, 5, tzinfo=UTC)
    run = rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=1))
    assert (run.hours, run.skipped) == (0, 1)
    assert AttemptRollup.objects.get(bucket=hour, project_id=project.pk).attempts == 3


def test_the_alert_fires_and_resolves_through_the_outbox(traffic, project):
    rule = AlertRule.objects.create(
        project=project,
        name="rollups whole",
        kind="rollup_mismatch",
        for_minutes=0,
        min_requests=1000,  # does not apply: judged whatever the traffic
        recipients=["ops@example.com"],
    )
    assert rule.effective_threshold == 0
    now = NOW + timedelta(minutes=1)
    alerts_evaluate(now=now)
    assert not Alert.objects.exists()  # healthy: nothing raised

    hour = _busiest_hour(project)
    AttemptRollup.objects.filter(pk=_hour_row(AttemptRollup, project, hour).pk).delete()
    rollups_reconcile()
    alerts_evaluate(now=now + timedelta(minutes=1))
    alert = Alert.objects.get(rule=rule)
    assert alert.kind == "rollup_mismatch" and alert.state == AlertState.FIRING
    assert alert.value == 1.0 and f"{hour:%Y-%m-%d %H:00}" in alert.summary
    firing = Notification.objects.get(alert=alert)
    assert firing.recipient == "ops@example.com" and "FIRING" in firing.subject
    assert "1 hours against a threshold of 0 hours" in firing.body_text

    rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=1))
    alerts_evaluate(now=now + timedelta(minutes=2))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.value == 0.0
    assert "RESOLVED" in Notification.objects.filter(alert=alert).latest("pk").subject


def test_rollups_check_prints_the_differing_hours_and_exits_1(traffic, project, capsys):
    call_command("rollups_check")
    assert "agree with their raw events" in capsys.readouterr().out

    hour = _busiest_hour(project)
    rows = AttemptRollup.objects.filter(project_id=project.pk, grain=Grain.HOUR, bucket=hour)
    tokens = sum(row.input_tokens for row in rows)
    AttemptRollup.objects.filter(pk=rows[0].pk).update(input_tokens=rows[0].input_tokens - 5)
    with pytest.raises(SystemExit) as exited:
        call_command("rollups_check", "acme", "support")
    assert exited.value.code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"acme/support {hour:%Y-%m-%dT%H:00Z}  input_tokens raw {tokens} rollup {tokens - 5}"
    )
    assert lines[1].startswith("1 of ") and len(lines) == 2

    # A span without that hour, or another organization's projects, finds nothing.
    call_command("rollups_check", "--from", (hour + timedelta(hours=1)).isoformat())
    assert "agree" in capsys.readouterr().out
    call_command("rollups_check", "acme", "--to", hour.strftime("%Y-%m-%dT%H:00Z"))
    assert "agree" in capsys.readouterr().out
    other = organization_create(name="globex")
    project_create(organization=other, name="support")
    call_command("rollups_check", "globex")
    assert "all 0 hours agree" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("rollups_check", ["nope"], "organization 'nope' does not exist"),
        ("rollups_check", ["acme", "nope"], "project 'nope' does not exist in 'acme'"),
        ("rollups_check", ["globex", "support"], "project 'support' does not exist in 'globex'"),
        ("rollups_check", ["--from", "yesterday"], "--from: 'yesterday' is not a date or time"),
        ("rollups_check", ["--from", "2026-12-02", "--to", "2026-12-01"], "--from must be before"),
        ("rollups_rebuild", ["globex", "support", "--from", "2026-12-01", "--to", "2026-12-02"],
         "project 'support' does not exist in 'globex'"),
        ("rollups_rebuild", ["acme", "support", "--from", "2026-12-01", "--to", "13:00"],
         "--to: '13:00' is not a date or time"),
    ],
)  # fmt: skip
def test_bad_arguments_fail_with_one_line_and_exit_2(project, command, args, message):
    organization_create(name="globex")  # exists, but holds no project of that name
    with pytest.raises(CommandError) as failed:
        call_command(command, *args)
    assert failed.value.returncode == 2
    assert message in str(failed.value) and "\n" not in str(failed.value)


def test_rebuild_needs_its_span(project):
    with pytest.raises(CommandError, match="--from"):
        call_command("rollups_rebuild", "acme", "support", "--to", "2026-12-02")


def test_another_tenants_mismatch_is_not_reported_for_this_one(traffic, project, post_batch):
    other = project_create(organization=organization_create(name="globex"), name="billing")
    service = service_create(project=other, name="router")
    _, key = api_key_create(project=other, service=service, scope="ingest")
    response = post_batch([routing_event(timestamp=(START + timedelta(minutes=3)).isoformat())],
                          key=key)  # fmt: skip
    assert response.json()["accepted"] == 1
    rollups_advance(max_seconds=float("inf"))
    AttemptRollup.objects.filter(project_id=other.pk, grain=Grain.HOUR).delete()

    call_command("rollups_check", "acme")  # acme's own hours are whole: exit 0
    with pytest.raises(SystemExit):
        call_command("rollups_check", "globex", "billing")


def test_the_beat_task_records_and_resolves(traffic, project):
    hour = _busiest_hour(project)
    row = _hour_row(LayerRollup, project, hour)
    LayerRollup.objects.filter(pk=row.pk).delete()
    result = rollups_reconcile_task()
    assert result["differing"] == 1 and result["opened"] == 1 and result["hours_checked"] >= 4
    assert RollupMismatch.objects.get(resolved_at__isnull=True).hour == hour
    rollups_rebuild(project=project, start=hour, end=hour + timedelta(hours=1))
    result = rollups_reconcile_task()
    assert result["differing"] == 0 and result["opened"] == 0
    assert not RollupMismatch.objects.filter(resolved_at__isnull=True).exists()


@pytest.mark.django_db(transaction=False)
def test_the_admin_lists_mismatches_read_only_to_their_organization(client, project):
    other_project = project_create(organization=organization_create(name="globex"), name="x")
    hour = NOW - timedelta(hours=2)
    for owner, figures in ((project, "17"), (other_project, "99")):
        RollupMismatch.objects.create(
            project=owner,
            hour=hour,
            figures={"attempts": {"raw": figures, "rollup": "0"}},
            first_seen_at=NOW,
            last_seen_at=NOW,
        )
    staff = User.objects.create_user("ada", password="pw-long-enough-1", is_staff=True)
    Membership.objects.create(user=staff, organization=project.organization, role=Role.ADMIN)
    staff.user_permissions.add(Permission.objects.get(codename="view_rollupmismatch"))
    client.force_login(staff)

    page = client.get("/admin/analytics/rollupmismatch/")
    assert page.status_code == 200
    assert "attempts 17 / 0" in page.content.decode()
    assert "attempts 99 / 0" not in page.content.decode()
    theirs = RollupMismatch.objects.get(project=other_project)
    assert client.get(f"/admin/analytics/rollupmismatch/{theirs.pk}/change/").status_code in (
        302,
        404,
    )
    ours = RollupMismatch.objects.get(project=project)
    assert client.post(f"/admin/analytics/rollupmismatch/{ours.pk}/delete/").status_code == 403
    assert client.get("/admin/analytics/rollupmismatch/add/").status_code == 403

"""A back-dated price change reprices exactly the events it covers; every money figure then
matches an exact recomputation; a cost alert re-evaluates on the new figures; a killed job
resumes; the admin shows the job's progress."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.alerts.evaluation import alerts_evaluate
from analytics.metrics.breakdowns import metrics_models
from analytics.metrics.query import MetricsQuery
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from analytics.models import Alert, AlertState, Repricing, RepricingState
from analytics.repricing import job as repricing_module
from analytics.repricing.job import START_GRACE, RepricingRun, repricing_request, repricings_advance
from analytics.rollups.job import rollups_advance
from analytics.tasks import rollup_advance
from governance.models import AlertRule, MatrixModel, ModelPrice
from governance.pricing import Price, PriceBook, cost_usd
from governance.selectors import baseline_model_name, price_book_for_project
from governance.services import PRICES_LOCK_CLASS
from ingestion.models import RoutingEvent
from tests.conftest import routing_event
from tests.governance.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now().replace(minute=0, second=0, microsecond=0)
CHANGE_AT = NOW - timedelta(days=1)  # the back-dated price starts a day ago


def _traffic(post_batch) -> None:
    """Attempts two days, 25 hours and an hour ago, on two models; some report their cost."""
    events = []
    for hours_ago in (48, 25, 23, 1):
        for index in range(6):
            events.append(
                routing_event(
                    timestamp=(NOW - timedelta(hours=hours_ago, minutes=index)).isoformat(),
                    model="gpt-5.4" if index % 3 else "claude-opus-4.6",
                    input_tokens=1000 + 137 * index,
                    output_tokens=251 * index,
                    **({"cost_usd": "0.5"} if index == 4 else {}),
                )
            )
    assert post_batch(events).json()["accepted"] == len(events)


def _new_gpt_price(project, **prices: str) -> ModelPrice:
    return ModelPrice.objects.create(
        model=MatrixModel.objects.get(project=project, name="gpt-5.4"),
        effective_from=CHANGE_AT,
        input_per_1k=Decimal(prices.get("input", "0.010")),
        output_per_1k=Decimal(prices.get("output", "0.030")),
    )


def _price_in_force(book: PriceBook, model: str, at: datetime) -> Price:
    """The price of `model` at `at` in the price book."""
    entry = book.entry(model)
    price = entry.price_at(at) if entry is not None else None
    assert price is not None, (model, at)
    return price


def _exact_costs(project) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    """Total cost, baseline cost and cost per model, straight from the raw events and the
    matrix as it is now, one Decimal at a time (no rollups, no numpy)."""
    book = price_book_for_project(project_id=project.pk)
    baseline_name = baseline_model_name(project_id=project.pk)
    assert baseline_name is not None
    total, baseline_total = Decimal(0), Decimal(0)
    by_model: dict[str, Decimal] = {}
    for event in RoutingEvent.objects.filter(project_id=project.pk):
        tokens = {
            "input_tokens": event.input_tokens,
            "output_tokens": event.output_tokens,
            "cache_read_tokens": event.cache_read_tokens,
            "cache_write_tokens": event.cache_write_tokens,
        }
        entry = book.entry(event.model)
        price = entry.price_at(event.timestamp) if entry else None
        if event.reported_cost_usd is not None:
            cost = event.reported_cost_usd
        elif price is not None:
            cost = cost_usd(price=price, **tokens)
        else:
            continue  # unpriced: in no money figure
        total += cost
        by_model[event.model] = by_model.get(event.model, Decimal(0)) + cost
        baseline_price = _price_in_force(book, baseline_name, event.timestamp)
        baseline_total += cost_usd(price=baseline_price, **tokens)
    return total, baseline_total, by_model


def _query(project) -> MetricsQuery:
    return MetricsQuery(
        window=Window.of(NOW - timedelta(days=3), NOW + timedelta(hours=1)), projects=(project,)
    )


def _hour_reprice_raising(monkeypatch, *, on_call: int, error: BaseException) -> None:
    """Make the `on_call`-th hour of repricing raise `error`; every other hour runs as usual."""
    real_hour_reprice = repricing_module.hour_reprice
    calls = 0

    def hour_reprice(**kwargs):
        nonlocal calls
        calls += 1
        if calls == on_call:
            raise error
        return real_hour_reprice(**kwargs)

    monkeypatch.setattr(repricing_module, "hour_reprice", hour_reprice)


def _run_jobs() -> RepricingRun:
    return repricings_advance(max_seconds=float("inf"), now=timezone.now() + START_GRACE)


def test_back_dated_price_reprices_exactly_the_events_it_covers(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    before = {
        event.event_id: (event.priced_cost_usd, event.price_id, event.reported_cost_usd)
        for event in RoutingEvent.objects.filter(project_id=project.pk)
    }
    old_total = metrics_summary(_query(project)).cost_usd

    price = _new_gpt_price(project)
    job = Repricing.objects.get()
    assert job.since == CHANGE_AT and job.until is None
    assert "gpt-5.4" in job.reason
    _run_jobs()

    job.refresh_from_db()
    assert job.state == RepricingState.DONE and job.progress == 1.0
    covered = 0
    for event in RoutingEvent.objects.filter(project_id=project.pk):
        old_priced, old_price_id, old_reported = before[event.event_id]
        assert event.reported_cost_usd == old_reported  # reported costs stay as reported
        if event.model == "gpt-5.4" and event.timestamp >= CHANGE_AT:
            covered += 1
            assert event.price_id == price.pk
            assert event.priced_cost_usd == cost_usd(
                price=_price_in_force(
                    price_book_for_project(project_id=project.pk), "gpt-5.4", event.timestamp
                ),
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
            )
            assert event.priced_cost_usd != old_priced
        else:
            assert (event.priced_cost_usd, event.price_id) == (old_priced, old_price_id)
    assert covered == job.events_repriced == 8

    total, baseline_total, by_model = _exact_costs(project)
    summary = metrics_summary(_query(project))
    assert summary.cost_usd == total != old_total
    assert summary.baseline_cost_usd == baseline_total
    assert summary.unpriced_attempts == 0
    assert {row.model: row.cost_usd for row in metrics_models(_query(project))} == (by_model)


def test_a_new_baseline_price_moves_the_savings_of_every_model(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    ModelPrice.objects.create(
        model=MatrixModel.objects.get(project=project, name="claude-opus-4.6"),
        effective_from=CHANGE_AT,
        input_per_1k=Decimal("0.020"),
        output_per_1k=Decimal("0.060"),
    )
    _run_jobs()
    total, baseline_total, _ = _exact_costs(project)
    summary = metrics_summary(_query(project))
    assert summary.cost_usd == total
    assert summary.baseline_cost_usd == baseline_total
    assert summary.routing_savings_usd == baseline_total - total


def test_events_not_yet_rolled_up_are_counted_once_at_the_new_price(post_batch, project):
    _traffic(post_batch)  # not rolled up before the price changes
    _new_gpt_price(project)
    _run_jobs()
    rollups_advance(max_seconds=float("inf"))
    total, _, _ = _exact_costs(project)
    assert metrics_summary(_query(project)).cost_usd == total
    assert metrics_summary(_query(project)).attempts == 24


def test_a_killed_job_resumes_where_it_stopped(post_batch, project, monkeypatch):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    _new_gpt_price(project)
    _hour_reprice_raising(monkeypatch, on_call=3, error=SystemExit("worker killed"))
    with pytest.raises(SystemExit):
        _run_jobs()
    job = Repricing.objects.get()
    assert job.state == RepricingState.RUNNING and job.hours_done == 2
    assert 0 < job.progress < 1

    monkeypatch.undo()  # the worker comes back
    _run_jobs()
    job.refresh_from_db()
    assert job.state == RepricingState.DONE
    total, _, _ = _exact_costs(project)
    assert metrics_summary(_query(project)).cost_usd == total


def test_a_cost_alert_re_evaluates_on_the_new_figures(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    recent_spend = metrics_summary(
        MetricsQuery(window=Window.of(NOW - timedelta(hours=2), NOW), projects=(project,))
    ).cost_usd
    AlertRule.objects.create(
        project=project,
        name="hourly spend",
        kind="cost_overrun",
        threshold=float(recent_spend) + 0.05,  # quiet at the old prices
        window_minutes=120,
        for_minutes=0,
        min_requests=1,
        recipients=["finance@example.com"],
    )
    alerts_evaluate(now=NOW)
    assert not Alert.objects.filter(state=AlertState.FIRING).exists()

    _new_gpt_price(project, input="0.070", output="0.070")  # ten times dearer, a day back
    _run_jobs()
    alerts_evaluate(now=NOW + timedelta(minutes=1))
    alert = Alert.objects.get(state=AlertState.FIRING)
    assert Decimal(str(alert.value)) > recent_spend + Decimal("0.05")


def test_changes_that_cover_no_event_queue_nothing(post_batch, project):
    _new_gpt_price(project)  # no traffic yet: nothing to reprice
    assert not Repricing.objects.exists()


def test_a_deleted_price_reprices_its_span_back_to_the_old_price(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    original_total, _, _ = _exact_costs(project)
    price = _new_gpt_price(project)
    _run_jobs()
    price.delete()
    assert Repricing.objects.filter(reason__startswith="price deleted").exists()
    _run_jobs()
    assert metrics_summary(_query(project)).cost_usd == original_total


def test_admin_shows_progress_to_the_projects_organization_only(
    post_batch, project, organization, client
):
    _traffic(post_batch)
    _new_gpt_price(project)
    _run_jobs()
    view_repricing = Permission.objects.get(codename="view_repricing")
    staff = UserFactory.create(organization=organization, role="admin")
    staff.user_permissions.add(view_repricing)
    client.force_login(staff)
    page = client.get("/admin/analytics/repricing/")
    assert page.status_code == 200
    assert "100% (" in page.content.decode() and "price added: gpt-5.4" in page.content.decode()

    other = UserFactory.create(role="admin")  # an admin of another organization
    other.user_permissions.add(view_repricing)
    client.force_login(other)
    assert "price added" not in client.get("/admin/analytics/repricing/").content.decode()
    job = Repricing.objects.get()
    assert client.get(f"/admin/analytics/repricing/{job.pk}/change/").status_code in (302, 404)


def test_deleting_a_project_with_traffic_queues_nothing_and_succeeds(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    project.delete()
    assert not Repricing.objects.exists()


def test_saving_a_price_unchanged_queues_nothing_and_edits_share_one_queued_job(
    post_batch, project
):
    _traffic(post_batch)
    price = ModelPrice.objects.filter(model__project=project, model__name="gpt-5.4").get()
    price.save()
    assert not Repricing.objects.exists()
    _new_gpt_price(project)
    claude = ModelPrice.objects.get(model__project=project, model__name="claude-opus-4.6")
    claude.output_per_1k = Decimal("0.013")
    claude.save()
    job = Repricing.objects.get()  # widened, not a second job
    assert job.since is None or job.since <= claude.effective_from
    assert "price added: gpt-5.4" in job.reason and "price changed" in job.reason


def test_renaming_a_model_reprices_all_its_events(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    model = MatrixModel.objects.get(project=project, name="gpt-5.4")
    model.name = "gpt-5.4-renamed"
    model.save()
    job = Repricing.objects.get()
    assert (job.since, job.until) == (None, None) and "renamed" in job.reason
    _run_jobs()
    summary = metrics_summary(_query(project))
    assert summary.unpriced_attempts == 12  # gpt-5.4 attempts without a reported cost
    assert summary.cost_usd == _exact_costs(project)[0].quantize(Decimal("0.000001"))


def test_a_job_that_fails_is_marked_failed_and_the_others_go_on(post_batch, project, monkeypatch):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    _new_gpt_price(project)
    later = repricing_request(project_id=project.pk, since=CHANGE_AT, until=None, reason="again")
    _hour_reprice_raising(
        monkeypatch, on_call=1, error=ZeroDivisionError("a bug, not a lost database")
    )
    run = _run_jobs()
    assert (run.failed, run.finished) == (1, 1)
    first = Repricing.objects.exclude(pk=later.pk).get()
    assert first.state == RepricingState.FAILED and "ZeroDivisionError" in first.last_error
    later.refresh_from_db()
    assert later.state == RepricingState.DONE and run.hours == later.hours_done > 0


def test_the_rollup_task_reprices_after_new_events_and_never_waits_for_it(post_batch, project):
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    _new_gpt_price(project)
    Repricing.objects.update(created_at=timezone.now() - START_GRACE)
    late = routing_event(timestamp=(NOW - timedelta(minutes=5)).isoformat())
    assert post_batch([late]).json()["accepted"] == 1
    answer = rollup_advance.apply().get()
    assert answer["events"]["routing"] == 1 and answer["repricings_finished"] == 1
    assert Repricing.objects.get().state == RepricingState.DONE
    total, _, _ = _exact_costs(project)
    assert metrics_summary(_query(project)).cost_usd == total


def test_answers_say_while_a_repricing_moves_their_figures(post_batch, project):
    read_client = APIClient()
    read_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory.create(project=project, scope='read').raw_key}"
    )
    _traffic(post_batch)
    rollups_advance(max_seconds=float("inf"))
    _new_gpt_price(project)
    window = {"from": (NOW - timedelta(days=3)).isoformat(), "to": NOW.isoformat()}
    during = read_client.get("/api/v1/metrics/summary", window).json()["window"]["repricing"]
    assert during == [
        {"project": "support", "reason": Repricing.objects.get().reason, "progress": 0.0}
    ]
    _run_jobs()
    after = read_client.get("/api/v1/metrics/summary", window).json()["window"]["repricing"]
    assert after == []


def test_a_batch_posted_while_a_price_change_commits_takes_the_new_price(post_batch, project):
    """The race: a batch arrives while a price change is being saved. It waits for the change
    to commit and prices with it (before the lock, it priced with the old matrix and nothing
    would ever reprice it)."""
    saved, prices = threading.Event(), []

    def change_price() -> None:
        with transaction.atomic():
            prices.append(_new_gpt_price(project))
            saved.set()
            time.sleep(0.5)  # the batch arrives now
        connection.close()

    changer = threading.Thread(target=change_price)
    changer.start()
    saved.wait(5)
    event = routing_event(timestamp=(NOW - timedelta(minutes=3)).isoformat())
    assert post_batch([event]).json()["accepted"] == 1
    changer.join()
    assert RoutingEvent.objects.get(event_id=event["event_id"]).price_id == prices[0].pk


def test_a_price_change_holds_the_prices_lock_until_it_commits(project):

    with transaction.atomic():
        _new_gpt_price(project)
        other = psycopg.connect(**{**connection.get_connection_params(), "autocommit": True})
        try:
            [(taken,)] = other.execute(
                "SELECT pg_try_advisory_lock_shared(%s, %s)", [PRICES_LOCK_CLASS, project.pk]
            ).fetchall()
            assert taken is False  # an ingest batch waits for the change to commit
        finally:
            other.close()

"""Queue a repricing when a change to the matrix alters what past events cost.

Prices are governance data and governance must not know about analytics, so analytics listens
to the model signals: whoever makes the change (the admin, `load_matrix`, a shell), the events
it covers are repriced. A changed price covers its model's events from the earlier of its old
and new start to the model's next price; a change of the project's baseline model (set, or the
most expensive active model) moves the baseline cost of every event, so it covers all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from analytics.db import frame_query
from analytics.repricing import START_GRACE, repricing_request
from analytics.tasks import repricing_run
from governance.models import MatrixModel, ModelPrice, Project
from governance.selectors import baseline_model_name


def _project_of(instance: Any) -> int:
    if isinstance(instance, ModelPrice):
        return MatrixModel.objects.values_list("project_id", flat=True).get(pk=instance.model_id)
    if isinstance(instance, MatrixModel):
        return instance.project_id
    return instance.pk


@receiver(pre_save, sender=ModelPrice)
@receiver(pre_save, sender=MatrixModel)
@receiver(pre_save, sender=Project)
def _remember_before(sender: type, instance: Any, **kwargs: Any) -> None:
    """Keep what the change may move: the price's old start and the baseline model."""
    if kwargs.get("raw") or (instance.pk is None and not isinstance(instance, ModelPrice)):
        return  # a new project or model has no events yet; a new price may move the baseline
    instance._baseline_before = baseline_model_name(project_id=_project_of(instance))
    if isinstance(instance, ModelPrice):
        instance._effective_from_before = (
            ModelPrice.objects.filter(pk=instance.pk)
            .values_list("effective_from", flat=True)
            .first()
        )


@receiver(post_save, sender=ModelPrice)
def _price_saved(sender: type, instance: ModelPrice, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    project_id = _project_of(instance)
    old_start = getattr(instance, "_effective_from_before", None) or instance.effective_from
    if _baseline_moved(instance, project_id):
        _reprice(project_id, None, None, f"baseline model changed with price {instance}")
        return
    since = min(old_start, instance.effective_from)
    until = _next_price_start(instance, after=max(old_start, instance.effective_from))
    verb = "added" if created else "changed"
    _reprice(project_id, since, until, f"price {verb}: {instance}")


@receiver(post_delete, sender=ModelPrice)
def _price_deleted(sender: type, instance: ModelPrice, **kwargs: Any) -> None:
    project_id = MatrixModel.objects.filter(pk=instance.model_id).values_list(
        "project_id", flat=True
    )
    if not project_id:  # the whole model (or project) is being deleted
        return
    since = instance.effective_from
    until = _next_price_start(instance, after=since)
    _reprice(project_id[0], since, until, f"price deleted: {instance}")


@receiver(post_save, sender=MatrixModel)
@receiver(post_save, sender=Project)
def _baseline_maybe_moved(sender: type, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw") or not hasattr(instance, "_baseline_before"):
        return
    project_id = _project_of(instance)
    if _baseline_moved(instance, project_id):
        _reprice(project_id, None, None, f"baseline model changed with {instance}")


def _baseline_moved(instance: Any, project_id: int) -> bool:
    if not hasattr(instance, "_baseline_before"):
        return False
    return instance._baseline_before != baseline_model_name(project_id=project_id)


def _next_price_start(price: ModelPrice, *, after: datetime) -> datetime | None:
    return (
        ModelPrice.objects.filter(model_id=price.model_id, effective_from__gt=after)
        .exclude(pk=price.pk)
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )


def _reprice(project_id: int, since: datetime | None, until: datetime | None, reason: str) -> None:
    """Queue a job, unless the span holds no event yet (a matrix loaded before any traffic)."""
    if not _has_events(project_id, since, until):
        return
    job = repricing_request(project_id=project_id, since=since, until=until, reason=reason)

    def enqueue() -> None:
        repricing_run.apply_async(args=[job.pk], countdown=START_GRACE.total_seconds())

    # robust: a broker outage must not fail the admin's save; the beat sweep picks the job up.
    transaction.on_commit(enqueue, robust=True)


def _has_events(project_id: int, since: datetime | None, until: datetime | None) -> bool:
    conditions, params = ["project_id = %s"], [project_id]
    if since is not None:
        conditions.append('"timestamp" >= %s')
        params.append(since)
    if until is not None:
        conditions.append('"timestamp" < %s')
        params.append(until)
    found = frame_query(
        f"SELECT EXISTS (SELECT 1 FROM ingestion_routingevent WHERE {' AND '.join(conditions)})",
        params,
        ["found"],
    )
    return bool(found["found"].iloc[0])

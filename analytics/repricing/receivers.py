"""Queue a repricing when a change to the matrix alters what past events cost.

Prices are governance data and governance must not know about analytics, so analytics listens
to the model signals: whoever makes the change (the admin, `load_matrix`, a shell), the events
it covers are repriced. A changed price covers its model's events from the earlier of its old
and new start to the model's next price; a change of the project's baseline model (set, or the
most expensive active model) moves the baseline cost of every event, and a renamed model
changes which events have a price, so those cover all of them. Changes that take the project
away (deleting it or its organization) reprice nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from analytics.models import Repricing, RepricingState
from analytics.repricing.job import repricing_request
from governance.models import MatrixModel, ModelPrice, Organization, Project
from governance.selectors import baseline_model_name
from governance.services import prices_lock
from ingestion.selectors import routing_events_exist

PRICE_FIELDS = (
    "effective_from", "input_per_1k", "output_per_1k", "cache_read_per_1k", "cache_write_per_1k",
)  # fmt: skip
# Deletions that start from these take the events' project with them: nothing to reprice.
OWNER_MODELS = (Project, Organization)


@receiver(pre_save, sender=ModelPrice)
@receiver(pre_save, sender=MatrixModel)
@receiver(pre_save, sender=Project)
@receiver(pre_delete, sender=ModelPrice)
def _remember_before(sender: type, instance: Any, **kwargs: Any) -> None:
    """Take the project's prices lock, and keep what the change may move: the row as stored
    and the project's baseline model."""
    if kwargs.get("raw") or (instance.pk is None and not isinstance(instance, ModelPrice)):
        return  # a new project or model has no events yet; a new price may move the baseline
    if _from_owner_deletion(kwargs.get("origin")):
        return
    project_id = _project_of(instance)
    # Ingest commits no batch priced the old way after this change (see prices_lock).
    prices_lock(project_id=project_id, shared=False)
    instance._baseline_before = baseline_model_name(project_id=project_id)
    fields = PRICE_FIELDS if isinstance(instance, ModelPrice) else ("name",)
    instance._stored_before = (
        type(instance).objects.filter(pk=instance.pk).values(*fields).first()
        if instance.pk is not None
        else None
    )


@receiver(post_save, sender=ModelPrice)
def _price_saved(sender: type, instance: ModelPrice, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    project_id = _project_of(instance)
    before = getattr(instance, "_stored_before", None)
    if _baseline_moved(instance, project_id):
        _reprice(project_id, None, None, f"baseline model changed with price {instance}")
        return
    if before is not None and all(before[name] == getattr(instance, name) for name in PRICE_FIELDS):
        return  # saved unchanged
    old_start = before["effective_from"] if before else instance.effective_from
    since = min(old_start, instance.effective_from)
    until = _next_price_start(instance, after=max(old_start, instance.effective_from))
    verb = "added" if created else "changed"
    _reprice(project_id, since, until, f"price {verb}: {instance}")


@receiver(post_delete, sender=ModelPrice)
def _price_deleted(sender: type, instance: ModelPrice, **kwargs: Any) -> None:
    if _from_owner_deletion(kwargs.get("origin")):
        return
    project_id = _project_of(instance)
    if _baseline_moved(instance, project_id):
        _reprice(project_id, None, None, f"baseline model changed: price deleted: {instance}")
        return
    since = instance.effective_from
    until = _next_price_start(instance, after=since)
    _reprice(project_id, since, until, f"price deleted: {instance}")


@receiver(post_save, sender=MatrixModel)
@receiver(post_save, sender=Project)
def _baseline_or_name_moved(sender: type, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw") or not hasattr(instance, "_baseline_before"):
        return
    project_id = _project_of(instance)
    before = getattr(instance, "_stored_before", None) or {}
    if isinstance(instance, MatrixModel) and before.get("name", instance.name) != instance.name:
        # Events name models: the old name's events lose their prices, the new name's gain.
        _reprice(project_id, None, None, f"model renamed: {before['name']} to {instance.name}")
    elif _baseline_moved(instance, project_id):
        _reprice(project_id, None, None, f"baseline model changed with {instance}")


def _from_owner_deletion(origin: Any) -> bool:
    model = getattr(origin, "model", type(origin))  # a queryset's model, or an instance's
    return isinstance(model, type) and issubclass(model, OWNER_MODELS)


def _project_of(instance: Any) -> int:
    if isinstance(instance, ModelPrice):
        return MatrixModel.objects.values_list("project_id", flat=True).get(pk=instance.model_id)
    if isinstance(instance, MatrixModel):
        return instance.project_id
    return instance.pk


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
    """Queue a job, unless the span holds no event yet (a matrix loaded before any traffic).
    A job not started yet is widened instead, so loading a matrix queues one job, not one per
    price."""
    if not routing_events_exist(project_id=project_id, since=since, until=until):
        return
    with transaction.atomic():
        _job_queue_or_widen(project_id, since, until, reason)


def _job_queue_or_widen(
    project_id: int, since: datetime | None, until: datetime | None, reason: str
) -> None:
    queued = (
        Repricing.objects.select_for_update()
        .filter(project_id=project_id, state=RepricingState.QUEUED)
        .first()
    )
    if queued is None:
        repricing_request(project_id=project_id, since=since, until=until, reason=reason)
        return
    queued.since = None if since is None or queued.since is None else min(since, queued.since)
    queued.until = None if until is None or queued.until is None else max(until, queued.until)
    queued.reason = f"{queued.reason}; {reason}"[:300]
    queued.save(update_fields=["since", "until", "reason"])

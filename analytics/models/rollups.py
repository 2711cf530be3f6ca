"""Rollups: what the raw events mean, kept small enough to answer any window fast.

- `Watermark`: how far the rollup job has read each raw table, by (ingest transaction, seq).
- `RequestFact`: one row per request, because most rates are per request and a request's
  enforcement events may arrive long after its routing event.
- `AttemptRollup`, `RequestRollup`, `LayerRollup`: counts, sums and latency sketches per
  time bucket (`grain` minute, hour or day) and dimensions, each grain built from the events
  and request facts themselves.
- `VersionRollup`: events per minute, hour and day of each router and policy version, for
  rollouts.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from governance.models import MONEY


def SketchField() -> models.BinaryField:
    """A latency sketch, packed (analytics.rollups.sketch): metric reads concatenate thousands of
    sketches per group in PostgreSQL and read the records without parsing."""
    return models.BinaryField(default=b"")


class Grain(models.TextChoices):
    MINUTE = "m", "minute"
    HOUR = "h", "hour"
    DAY = "d", "day"


class Watermark(models.Model):
    """Events of `stream` up to (xid, seq) are in the rollups."""

    stream = models.CharField(max_length=16, primary_key=True)
    xid = models.BigIntegerField(default=0)
    seq = models.BigIntegerField(default=0)
    events_processed = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stream} @ xid {self.xid} seq {self.seq}"


class RequestFact(models.Model):
    """Everything known about one request, placed in time by its earliest event."""

    project_id = models.BigIntegerField()
    request_id = models.CharField(max_length=128)
    first_seen = models.DateTimeField()
    service_id = models.BigIntegerField()
    environment = models.CharField(max_length=64)
    first_attempt_at = models.DateTimeField(null=True)
    model = models.CharField(max_length=100, blank=True)  # of the first attempt
    mode = models.CharField(max_length=20, blank=True)
    attempts = models.IntegerField(default=0)
    ok_attempts = models.IntegerField(default=0)
    checks = models.IntegerField(default=0)
    check_latency_ms = models.FloatField(default=0)
    intercepted = models.BooleanField(default=False)
    blocked = models.BooleanField(default=False)
    modified = models.BooleanField(default=False)
    violation_detected = models.BooleanField(default=False)
    caught = models.BooleanField(default=False)
    escaped = models.BooleanField(default=False)
    false_positive = models.BooleanField(default=False)
    # The mode of its earliest check that carries one, and that check's time: the request's
    # mode when it has no attempt.
    check_mode = models.CharField(max_length=20, blank=True, default="")
    check_mode_at = models.DateTimeField(null=True)
    # Its attempts' routing_latency_ms (0 when absent) + latency_ms: with check_latency_ms,
    # its end-to-end latency.
    attempt_latency_ms = models.FloatField(default=0)
    # The layers its checks were at (bit i: analytics.rollups.facts.LAYER_ORDER[i]), its
    # checks' reported cost of their own in 1e-8 USD (exact, as rollups sum money), and its
    # checks that reported none.
    layers_mask = models.IntegerField(default=0)
    check_cost_units = models.BigIntegerField(default=0)
    unreported_checks = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "request_id"], name="request_fact_unique"
            ),
        ]
        indexes = [models.Index(fields=["project_id", "first_seen"], name="request_fact_time")]

    def __str__(self) -> str:
        return f"request {self.request_id} of project {self.project_id}"


class Rollup(models.Model):
    grain = models.CharField(max_length=1, choices=Grain.choices)
    bucket = models.DateTimeField()
    project_id = models.BigIntegerField()
    service_id = models.BigIntegerField()
    environment = models.CharField(max_length=64)

    class Meta:
        abstract = True


class AttemptRollup(Rollup):
    """Model calls per bucket, project, service, model, provider, mode and environment."""

    model = models.CharField(max_length=100)
    provider = models.CharField(max_length=100)
    mode = models.CharField(max_length=20)
    attempts = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    fallbacks = models.BigIntegerField(default=0)
    nonfallback_attempts = models.BigIntegerField(default=0)
    conforming_attempts = models.BigIntegerField(default=0)
    unpriced_attempts = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(**MONEY, default=0)
    baseline_cost_usd = models.DecimalField(**MONEY, default=0)
    baseline_actual_cost_usd = models.DecimalField(
        **MONEY, default=0
    )  # actual cost of those attempts
    latency_sum_ms = models.FloatField(default=0)
    routing_latency_count = models.BigIntegerField(default=0)
    routing_latency_sum_ms = models.FloatField(default=0)
    latency_sketch = SketchField()
    routing_latency_sketch = SketchField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "bucket",
                    "project_id",
                    "service_id",
                    "environment",
                    "model",
                    "provider",
                    "mode",
                ],
                name="attempt_rollup_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["project_id", "grain", "bucket"], name="attempt_rollup_window")
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.bucket:%Y-%m-%d %H:%M} {self.model}: {self.attempts}"


class RequestRollup(Rollup):
    """Requests per bucket of their first event, by the dimensions of their first events."""

    model = models.CharField(max_length=100)
    mode = models.CharField(max_length=20)
    requests = models.BigIntegerField(default=0)
    with_attempt = models.BigIntegerField(default=0)
    served = models.BigIntegerField(default=0)
    intercepted = models.BigIntegerField(default=0)
    blocked = models.BigIntegerField(default=0)
    modified = models.BigIntegerField(default=0)
    violation_detected = models.BigIntegerField(default=0)
    caught = models.BigIntegerField(default=0)
    escaped = models.BigIntegerField(default=0)
    false_positive = models.BigIntegerField(default=0)
    with_checks = models.BigIntegerField(default=0)
    checks = models.BigIntegerField(default=0)
    layers_seen = models.BigIntegerField(default=0)  # distinct layers, summed over requests
    unreported_checks = models.BigIntegerField(default=0)  # checks without their own cost_usd
    reported_check_cost_usd = models.DecimalField(**MONEY, default=0)
    overhead_sketch = SketchField()
    end_to_end_sketch = SketchField()  # of requests with an attempt

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "bucket",
                    "project_id",
                    "service_id",
                    "environment",
                    "model",
                    "mode",
                ],
                name="request_rollup_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["project_id", "grain", "bucket"], name="request_rollup_window")
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.bucket:%Y-%m-%d %H:%M}: {self.requests} requests"


class LayerRollup(Rollup):
    """Policy checks per bucket, project, service, environment, layer and policy."""

    layer = models.CharField(max_length=16)
    policy = models.CharField(max_length=100)
    checks = models.BigIntegerField(default=0)
    blocks = models.BigIntegerField(default=0)
    modifies = models.BigIntegerField(default=0)
    flags = models.BigIntegerField(default=0)
    violations = models.BigIntegerField(default=0)
    false_positives = models.BigIntegerField(default=0)  # review events marked false_positive
    unreported_checks = models.BigIntegerField(default=0)  # checks without their own cost_usd
    reported_check_cost_usd = models.DecimalField(**MONEY, default=0)
    check_latency_sketch = SketchField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "bucket",
                    "project_id",
                    "service_id",
                    "environment",
                    "layer",
                    "policy",
                ],
                name="layer_rollup_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["project_id", "grain", "bucket"], name="layer_rollup_window")
        ]

    def __str__(self) -> str:
        return (
            f"{self.grain} {self.bucket:%Y-%m-%d %H:%M} {self.layer}/{self.policy}: {self.checks}"
        )


class VersionRollup(models.Model):
    """Events per bucket (`grain` minute, hour or day) of a component's version: the router
    (routing events carrying a `router_version`) or one policy (`policy:<name>`, enforcement
    events carrying a `policy_version`), by service, environment and the event's own mode (""
    when it carries none). `first_at` and `last_at` are the exact times of the bucket's first
    and last event, so a rollout's start and end are exact (analytics.metrics.rollouts); hours
    and days let a long window be read coarsely where a component kept one version."""

    grain = models.CharField(max_length=1, choices=Grain.choices)
    bucket = models.DateTimeField()
    project_id = models.BigIntegerField()
    service_id = models.BigIntegerField()
    environment = models.CharField(max_length=64)
    component = models.CharField(max_length=110)  # "router" or "policy:" + a policy name
    version = models.CharField(max_length=64)
    mode = models.CharField(max_length=20, blank=True)
    events = models.BigIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                # A component's buckets in time order: the index a rollout's finer read
                # walks, holding the first and last event so the read never visits the table.
                fields=[
                    "grain",
                    "project_id",
                    "component",
                    "bucket",
                    "version",
                    "mode",
                    "service_id",
                    "environment",
                ],
                include=["first_at", "last_at"],
                name="version_rollup_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["project_id", "grain", "bucket"], name="version_rollup_window")
        ]

    def __str__(self) -> str:
        return (
            f"{self.grain} {self.bucket:%Y-%m-%d %H:%M} {self.component} {self.version}: "
            f"{self.events}"
        )


# --- Alerts and notifications --------------------------------------------------------------


class RollupMismatch(models.Model):
    """An hour of a project whose hour rollups differ from its raw events, as the
    reconciliation (analytics.rollups.reconcile) found it: which figures differ, with the raw and the
    rollup value of each. One open record per project and hour; it is resolved when a later
    check finds the hour whole again, or when `rollups_rebuild` repaired it."""

    project = models.ForeignKey("governance.Project", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    figures = models.JSONField(default=dict)  # {"attempts": {"raw": "12", "rollup": "11"}, ...}
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=16, blank=True)  # "check" or "rebuild"

    class Meta:
        ordering = ["-hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "hour"],
                condition=Q(resolved_at__isnull=True),
                name="rollup_mismatch_open_once",
            ),
        ]
        indexes = [models.Index(fields=["project", "resolved_at"], name="rollup_mismatch_open")]

    def __str__(self) -> str:
        state = "resolved" if self.resolved_at else "open"
        return f"project {self.project_id} {self.hour:%Y-%m-%d %H:00}: {state}"

"""Rollups: what the raw events mean, kept small enough to answer any window fast.

- `Watermark`: how far the rollup job has read each raw table, by (ingest transaction, seq).
- `RequestFact`: one row per request, because most rates are per request and a request's
  enforcement events may arrive long after its routing event.
- `AttemptRollup`, `RequestRollup`, `LayerRollup`: counts, sums and latency sketches per
  time bucket (`grain` minute, hour or day) and dimensions, each grain built from the events
  and request facts themselves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 20, "decimal_places": 8, "default": 0}


def SketchField() -> models.BinaryField:
    """A latency sketch, packed (analytics.sketch): metric reads concatenate thousands of
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
    cost_usd = models.DecimalField(**MONEY)
    baseline_cost_usd = models.DecimalField(**MONEY)
    baseline_actual_cost_usd = models.DecimalField(**MONEY)  # actual cost of those attempts
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
    overhead_sketch = SketchField()

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
    """Policy checks per bucket, project, service, environment and layer."""

    layer = models.CharField(max_length=16)
    checks = models.BigIntegerField(default=0)
    blocks = models.BigIntegerField(default=0)
    modifies = models.BigIntegerField(default=0)
    flags = models.BigIntegerField(default=0)
    violations = models.BigIntegerField(default=0)
    check_latency_sketch = SketchField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "bucket", "project_id", "service_id", "environment", "layer"],
                name="layer_rollup_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["project_id", "grain", "bucket"], name="layer_rollup_window")
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.bucket:%Y-%m-%d %H:%M} {self.layer}: {self.checks}"


# --- Alerts and notifications --------------------------------------------------------------


class AlertState(models.TextChoices):
    PENDING = "pending", "pending"
    FIRING = "firing", "firing"
    RESOLVED = "resolved", "resolved"


class Alert(models.Model):
    """One alert per rule (or budget) and scope, cycling pending -> firing -> resolved."""

    project = models.ForeignKey(
        "governance.Project", on_delete=models.CASCADE, null=True, related_name="+"
    )
    organization = models.ForeignKey(
        "governance.Organization", on_delete=models.CASCADE, related_name="+"
    )
    rule = models.ForeignKey(
        "governance.AlertRule", on_delete=models.CASCADE, null=True, related_name="alerts"
    )
    budget = models.ForeignKey(
        "governance.Budget", on_delete=models.CASCADE, null=True, related_name="alerts"
    )
    kind = models.CharField(max_length=32)
    scope = models.CharField(max_length=200)  # e.g. "project", "model:gpt-5.4"
    severity = models.CharField(max_length=16)
    state = models.CharField(max_length=16, choices=AlertState.choices)
    value = models.FloatField(null=True)
    threshold = models.FloatField(null=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict)
    pending_since = models.DateTimeField(null=True)
    firing_since = models.DateTimeField(null=True)
    resolved_at = models.DateTimeField(null=True)
    last_notified_at = models.DateTimeField(null=True)
    acknowledged_at = models.DateTimeField(null=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    silenced_until = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "scope"], condition=Q(rule__isnull=False), name="alert_rule_scope"
            ),
            models.UniqueConstraint(
                fields=["budget", "scope"],
                condition=Q(budget__isnull=False),
                name="alert_budget_scope",
            ),
        ]
        indexes = [models.Index(fields=["organization", "state"], name="alert_org_state")]

    def __str__(self) -> str:
        return f"{self.kind} {self.scope}: {self.state}"

    @property
    def name(self) -> str:
        """The name of the rule or budget that raised the alert."""
        return self.rule.name if self.rule else self.budget.name if self.budget else ""


class AlertEvaluation(models.Model):
    """Every judgement of an alert's condition, kept for audit."""

    rule = models.ForeignKey(
        "governance.AlertRule", on_delete=models.CASCADE, null=True, related_name="+"
    )
    budget = models.ForeignKey(
        "governance.Budget", on_delete=models.CASCADE, null=True, related_name="+"
    )
    scope = models.CharField(max_length=200)
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, null=True, related_name="evaluations"
    )  # none while the condition has never held
    evaluated_at = models.DateTimeField()
    value = models.FloatField(null=True)
    breached = models.BooleanField()
    state_before = models.CharField(max_length=16, blank=True)
    state_after = models.CharField(max_length=16)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-evaluated_at"]
        indexes = [
            models.Index(fields=["alert", "evaluated_at"], name="alert_eval_time"),
            models.Index(fields=["rule", "scope", "evaluated_at"], name="alert_eval_rule"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluated_at:%Y-%m-%d %H:%M} {self.state_before} -> {self.state_after}"


class BudgetNotice(models.Model):
    """A budget threshold (a percent, or "forecast") that fired in one period: at most once."""

    budget = models.ForeignKey("governance.Budget", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    threshold = models.CharField(max_length=16)
    fired_at = models.DateTimeField()
    spent_usd = models.DecimalField(max_digits=20, decimal_places=8)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "threshold"], name="budget_notice_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.threshold} of budget {self.budget_id} in period from {self.period_start}"


class NotificationState(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"  # terminal: attempts ran out; only "Send again" revives it


class Notification(models.Model):
    """Outbox: an email written with the state change that caused it, sent by a task; after
    TOLLGATE_OUTBOX_MAX_ATTEMPTS failed sends it stays `failed` with its last error."""

    organization = models.ForeignKey(
        "governance.Organization", on_delete=models.CASCADE, related_name="+"
    )
    alert = models.ForeignKey(Alert, on_delete=models.SET_NULL, null=True, related_name="+")
    dedup_key = models.CharField(max_length=300, unique=True)
    recipient = models.EmailField()
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField()
    state = models.CharField(
        max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True)  # a sender's lease while it sends
    sent_at = models.DateTimeField(null=True)
    failed_at = models.DateTimeField(null=True)  # when the last allowed attempt failed
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="notification_due")]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.recipient} ({self.state})"

    @property
    def message_id(self) -> str:
        """Stable per notification: a re-send after a crash is recognisably the same mail."""
        return f"<notification-{self.pk}@tollgate>"


class RepricingState(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class Repricing(models.Model):
    """A background job that reprices a project's events in `[since, until)` at the prices
    now in force and rebuilds their attempt rollups, hour by hour (`done_until` is how far it
    got, so a killed job resumes where it stopped)."""

    project = models.ForeignKey("governance.Project", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=300)
    since = models.DateTimeField(null=True, help_text="Empty: from the project's first event.")
    until = models.DateTimeField(null=True, help_text="Empty: up to now.")
    state = models.CharField(
        max_length=16, choices=RepricingState.choices, default=RepricingState.QUEUED
    )
    hours_total = models.PositiveIntegerField(default=0)
    hours_done = models.PositiveIntegerField(default=0)
    done_until = models.DateTimeField(null=True)
    events_repriced = models.BigIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state"], name="repricing_state")]

    def __str__(self) -> str:
        return f"repricing {self.project_id}: {self.reason} ({self.state})"

    @property
    def progress(self) -> float:
        """Share of the span done, 0..1."""
        if self.state == RepricingState.DONE:
            return 1.0
        return self.hours_done / self.hours_total if self.hours_total else 0.0


class RollupMismatch(models.Model):
    """An hour of a project whose hour rollups differ from its raw events, as the
    reconciliation (analytics.reconcile) found it: which figures differ, with the raw and the
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

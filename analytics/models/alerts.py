"""Alerts: what the rules found, each evaluation, and the budget notices sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.models import AlertKind


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
    def kind_label(self) -> str:
        """The kind in words (`architecture mismatch`), as the rule's admin names it."""
        return str(dict(AlertKind.choices).get(self.kind, self.kind))

    @property
    def name(self) -> str:
        """The name of the rule or budget that raised the alert."""
        return self.rule.name if self.rule else self.budget.name if self.budget else ""


OPENED = ["pending", "firing"]  # the states of an open incident
OPENED_FROM = ["", "resolved"]  # the states a judgement opens an incident from


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
            # The few judgements that opened or resolved an incident, among one a minute per
            # scope: the comparison's model incidents (analytics.metrics.incidents).
            models.Index(
                fields=["rule", "evaluated_at"],
                condition=Q(state_before__in=OPENED_FROM, state_after__in=OPENED),
                name="alert_eval_opened",
            ),
            models.Index(
                fields=["rule", "scope", "evaluated_at"],
                condition=Q(state_before__in=OPENED, state_after="resolved"),
                name="alert_eval_resolved",
            ),
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

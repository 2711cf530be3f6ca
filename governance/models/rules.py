"""What the policy watches: budgets (money a scope may spend per period) and alert rules
(conditions on live figures), with the scopes, kinds and defaults they are written in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from governance.models.money import MONEY
from governance.models.profile import ADVICE_FINDINGS
from governance.models.tenancy import Organization, Project
from governance.numbers import money_shown


class ScopeKind(models.TextChoices):
    ORGANIZATION = "organization", "organization"
    PROJECT = "project", "project"
    SERVICE = "service", "service"
    MODEL = "model", "model"
    POLICY = "policy", "policy"  # alert rules only: one policy's checks (over_interception)


NAMED_SCOPES = (ScopeKind.SERVICE, ScopeKind.MODEL, ScopeKind.POLICY)
# The rule kinds whose measurement can be narrowed to one policy's checks.
POLICY_SCOPED_KINDS = ("over_interception",)
# The rule kinds judged for a whole project only (advice is given per project).
PROJECT_ONLY_KINDS = ("architecture_mismatch",)


def scope_label(kind: str, name: str) -> str:
    """How a scope is written in rule files, alerts and the API: `project`, `model:NAME`."""
    return f"{kind}:{name}" if name else kind


class BudgetPeriod(models.TextChoices):
    DAY = "day", "day"
    WEEK = "week", "ISO week"
    MONTH = "month", "month"
    QUARTER = "quarter", "quarter"


def default_thresholds() -> list[int]:
    return [50, 80, 100]


class Budget(models.Model):
    """Money a scope may spend per UTC calendar period; each threshold notifies once a period."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text="Blank for an organization-wide budget.",
    )
    name = models.CharField(max_length=100)
    scope_kind = models.CharField(
        max_length=16,
        choices=[c for c in ScopeKind.choices if c[0] != ScopeKind.POLICY],
        default=ScopeKind.PROJECT,
    )
    scope_name = models.CharField(
        max_length=100, blank=True, help_text="The service or model name for those scopes."
    )
    period = models.CharField(max_length=16, choices=BudgetPeriod.choices)
    amount_usd = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.01"))])
    thresholds = models.JSONField(
        default=default_thresholds, help_text="Percent of the amount, e.g. [50, 80, 100]."
    )
    notify_forecast = models.BooleanField(
        default=True, help_text="Also notify once when the forecast exceeds the amount."
    )
    recipients = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "project", "name"],
                name="budget_unique_name",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=Q(amount_usd__gt=0), name="budget_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({money_shown(self.amount_usd)} per {self.period})"

    @property
    def scope_label(self) -> str:
        return scope_label(self.scope_kind, self.scope_name)

    def clean(self) -> None:
        if self.project_id is None and self.scope_kind != ScopeKind.ORGANIZATION:
            raise ValidationError({"project": "Only an organization budget has no project."})
        if self.scope_kind in (ScopeKind.SERVICE, ScopeKind.MODEL) and not self.scope_name:
            raise ValidationError({"scope_name": "Name the service or model."})
        if not isinstance(self.thresholds, list) or not all(
            isinstance(value, int) and 0 < value <= 1000 for value in self.thresholds
        ):
            raise ValidationError({"thresholds": "A list of whole percents, e.g. [50, 80, 100]."})


class AlertKind(models.TextChoices):
    OVER_INTERCEPTION = "over_interception", "over-interception"
    COST_OVERRUN = "cost_overrun", "cost overrun"
    ROUTING_DRIFT = "routing_drift", "routing drift"
    LATENCY_SLO = "latency_slo", "latency SLO"
    ERROR_RATE = "error_rate", "error rate"
    MODEL_FAILURE = "model_failure", "model failure"
    # The reconciliation found hours whose rollups differ from their raw events (the measured
    # value is the number of such hours still open; analytics.rollups.reconcile).
    ROLLUP_MISMATCH = "rollup_mismatch", "rollup mismatch"
    # An advice finding (governance.models.profile.ADVICE_FINDINGS) holds: the measured value
    # is the number of the rule's findings that hold for the project.
    ARCHITECTURE_MISMATCH = "architecture_mismatch", "architecture mismatch"


# What a rule judges when its threshold is left blank. Decimal for every kind, as the column
# is: a cost ceiling is money, and one type keeps `effective_threshold` simple.
DEFAULT_THRESHOLDS: dict[str, Decimal] = {
    AlertKind.OVER_INTERCEPTION: Decimal("0.01"),  # interception rate
    AlertKind.COST_OVERRUN: Decimal("100"),  # USD spent within the window
    AlertKind.ROUTING_DRIFT: Decimal("0.25"),  # PSI
    AlertKind.LATENCY_SLO: Decimal("1000"),  # P95 latency, ms
    AlertKind.ERROR_RATE: Decimal("0.05"),
    AlertKind.MODEL_FAILURE: Decimal("0.5"),  # a model's error rate
    AlertKind.ROLLUP_MISMATCH: Decimal("0"),  # hours whose rollups differ: fires at the first one
    AlertKind.ARCHITECTURE_MISMATCH: Decimal("0"),  # findings that hold: fires at the first one
}
# The threshold column, numeric(20, 8) like every money column: exact dollars and cents to
# eight places, and enough for the other kinds (rates and PSI to 1e-8, ms, hour counts).
THRESHOLD_MAX_DIGITS = 20
THRESHOLD_DECIMAL_PLACES = 8
DEFAULT_CONFORMANCE_MIN = 0.8


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


class AlertRule(models.Model):
    """A condition on live figures; alerts follow it pending -> firing -> resolved."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    scope_kind = models.CharField(
        max_length=16,
        choices=[c for c in ScopeKind.choices if c[0] != ScopeKind.ORGANIZATION],
        default=ScopeKind.PROJECT,
    )
    scope_name = models.CharField(
        max_length=100, blank=True, help_text="The service, model or policy name for those scopes."
    )
    threshold = models.DecimalField(
        max_digits=THRESHOLD_MAX_DIGITS,
        decimal_places=THRESHOLD_DECIMAL_PLACES,
        null=True,
        blank=True,
        help_text="Blank: the kind's default (e.g. 0.01: 1% interception; USD for cost_overrun).",
    )
    conformance_min = models.FloatField(
        null=True, blank=True, help_text="routing_drift only: fire when conformance is below."
    )
    window_minutes = models.PositiveIntegerField(default=15, validators=[MinValueValidator(1)])
    for_minutes = models.PositiveIntegerField(default=0)
    min_requests = models.PositiveIntegerField(default=100)
    severity = models.CharField(max_length=16, choices=Severity.choices, default="warning")
    repeat_minutes = models.PositiveIntegerField(default=240, validators=[MinValueValidator(1)])
    send_resolved = models.BooleanField(default=True)
    recipients = models.JSONField(default=list, blank=True)
    findings = models.JSONField(
        default=list,
        blank=True,
        help_text="architecture_mismatch only: the advice findings that fire the rule; "
        "none chosen: any finding but no_profile.",
    )
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="alert_rule_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def scope_label(self) -> str:
        return scope_label(self.scope_kind, self.scope_name)

    @property
    def effective_threshold(self) -> Decimal:
        """The rule's threshold or its kind's default, as a Decimal for every kind: a cost
        ceiling is compared with spend as Decimal; readers of rates convert once, explicitly."""
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.kind]

    def clean(self) -> None:
        if self.scope_kind in NAMED_SCOPES and not self.scope_name:
            raise ValidationError({"scope_name": "Name the service, model or policy."})
        problem = policy_scope_problem(self.kind, self.scope_kind)
        if problem:
            raise ValidationError({"scope_kind": problem})
        problem = findings_problem(self.kind, self.findings)
        if problem:
            raise ValidationError({"findings": problem})


def policy_scope_problem(kind: str, scope_kind: str) -> str | None:
    """Why a rule of `kind` cannot have this scope, or None: only over-interception is
    measured per policy (a policy has checks, not requests, costs or models), and advice is
    given per project."""
    if kind in PROJECT_ONLY_KINDS and scope_kind != ScopeKind.PROJECT:
        return f"A {kind} rule is judged for the whole project: its scope is project."
    if scope_kind == ScopeKind.POLICY and kind not in POLICY_SCOPED_KINDS:
        return f"A policy scope is only for {', '.join(POLICY_SCOPED_KINDS)} rules, not {kind}."
    return None


def findings_problem(kind: str, findings: Any) -> str | None:
    """Why these findings cannot be a rule's condition, or None: only an architecture_mismatch
    rule names findings, each one of the advice's codes, none twice."""
    if findings in (None, []):
        return None
    if kind != AlertKind.ARCHITECTURE_MISMATCH:
        return f"Only an {AlertKind.ARCHITECTURE_MISMATCH} rule names findings, not {kind}."
    if not isinstance(findings, list) or not all(isinstance(code, str) for code in findings):
        return 'A list of finding codes, e.g. ["mode_mismatch"].'
    unknown = [code for code in findings if code not in ADVICE_FINDINGS]
    if unknown:
        return f"Unknown finding {unknown[0]!r}: expected one of {', '.join(ADVICE_FINDINGS)}."
    if len(set(findings)) != len(findings):
        return "A finding is listed twice."
    return None

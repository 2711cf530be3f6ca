"""Governance data: organizations, projects, services, API keys, the model matrix and prices,
budgets and alert rules. Prices, bands, budgets and rules (and project settings) keep an audit
history of every change (django-simple-history: who, when, before and after)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

MONEY = {"max_digits": 20, "decimal_places": 8}


class Organization(models.Model):
    """A tenant: every other row belongs to exactly one organization."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """A product or team whose traffic is governed together, with its cost settings."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=100)
    baseline_model = models.CharField(
        max_length=100,
        blank=True,
        help_text="Model that routing savings are measured against; "
        "blank means the matrix's most expensive active model.",
    )
    expected_shares = models.JSONField(
        default=dict, blank=True, help_text='Expected model mix, e.g. {"gpt-5.4": 0.8}.'
    )
    interception_cost_usd = models.DecimalField(**MONEY, default=Decimal("0.002"))
    correction_cost_usd = models.DecimalField(**MONEY, default=Decimal("0.005"))
    incident_cost_usd = models.DecimalField(**MONEY, default=Decimal("0"))
    token_scale = models.PositiveIntegerField(default=8000, validators=[MinValueValidator(1)])
    tool_scale = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    retention_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="project_unique_name"),
            models.CheckConstraint(
                condition=Q(token_scale__gte=1) & Q(tool_scale__gte=1),
                name="project_scales_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization.name}/{self.name}"


class Service(models.Model):
    """A router, gateway or guardrail layer that posts events for one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="service_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


class Role(models.TextChoices):
    OPS = "ops", "Ops"
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    """Ties a user to the one organization whose data they may see, with their role."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.organization})"


class ApiKeyScope(models.TextChoices):
    INGEST = "ingest", "Ingest events"
    READ = "read", "Read metrics"


class ApiKey(models.Model):
    """A project's API key. Only a short prefix is kept in clear; the rest is a SHA-256 digest."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices)
    prefix = models.CharField(max_length=8, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=6000, help_text="Requests per minute this key may make; over it, 429."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(scope="ingest") | Q(service__isnull=False),
                name="api_key_ingest_needs_service",
            ),
        ]

    def __str__(self) -> str:
        return f"tg_{self.prefix}_… ({self.scope}, {self.project})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def clean(self) -> None:
        if self.service_id and self.project_id and self.service.project_id != self.project_id:
            raise ValidationError({"service": "The service must belong to the key's project."})


class RateLimitWindow(models.Model):
    """Requests counted per key and minute; incremented atomically with an upsert."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "window_start"], name="rate_window_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} @ {self.window_start:%H:%M}: {self.count}"


class MatrixModel(models.Model):
    """A model in a project's model matrix (the models the router may send traffic to)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="matrix_models")
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=100)
    tier = models.CharField(max_length=50, blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="matrix_model_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"


class ModelPrice(models.Model):
    """A model's price per 1,000 tokens from `effective_from` until the next price row."""

    model = models.ForeignKey(MatrixModel, on_delete=models.CASCADE, related_name="prices")
    effective_from = models.DateTimeField()
    input_per_1k = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    output_per_1k = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    cache_read_per_1k = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Blank means the input price.",
    )
    cache_write_per_1k = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Blank means the input price.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["model__name", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="model_price_unique"),
            models.CheckConstraint(
                condition=Q(input_per_1k__gte=0) & Q(output_per_1k__gte=0),
                name="model_price_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} from {self.effective_from:%Y-%m-%d %H:%M}"


class ComplexityBand(models.Model):
    """Scores in `[min_score, max_score)` are expected to go to `model_name` (last band: to 100]."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="bands")
    min_score = models.DecimalField(max_digits=6, decimal_places=2)
    max_score = models.DecimalField(max_digits=6, decimal_places=2)
    model_name = models.CharField(max_length=100)
    history = HistoricalRecords()

    class Meta:
        ordering = ["project__name", "min_score"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_score__gte=0)
                & Q(max_score__lte=100)
                & Q(min_score__lt=models.F("max_score")),
                name="band_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.min_score}-{self.max_score}: {self.model_name}"


# --- Budgets and alert rules -----------------------------------------------------------------


class ScopeKind(models.TextChoices):
    ORGANIZATION = "organization", "organization"
    PROJECT = "project", "project"
    SERVICE = "service", "service"
    MODEL = "model", "model"


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
        max_length=16, choices=ScopeKind.choices, default=ScopeKind.PROJECT
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
        return f"{self.name} ({self.amount_usd} USD per {self.period})"

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


# What a rule judges when its threshold is left blank. Decimal for every kind, as the column
# is: a cost ceiling is money, and one type keeps `effective_threshold` simple.
DEFAULT_THRESHOLDS = {
    AlertKind.OVER_INTERCEPTION: Decimal("0.01"),  # interception rate
    AlertKind.COST_OVERRUN: Decimal("100"),  # USD spent within the window
    AlertKind.ROUTING_DRIFT: Decimal("0.25"),  # PSI
    AlertKind.LATENCY_SLO: Decimal("1000"),  # P95 latency, ms
    AlertKind.ERROR_RATE: Decimal("0.05"),
    AlertKind.MODEL_FAILURE: Decimal("0.5"),  # a model's error rate
    AlertKind.ROLLUP_MISMATCH: Decimal("0"),  # hours whose rollups differ: fires at the first one
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
    scope_name = models.CharField(max_length=100, blank=True)
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
        if self.scope_kind in (ScopeKind.SERVICE, ScopeKind.MODEL) and not self.scope_name:
            raise ValidationError({"scope_name": "Name the service or model."})

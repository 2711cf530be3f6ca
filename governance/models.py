"""Governance data: organizations, projects, services, API keys, the model matrix and prices."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

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

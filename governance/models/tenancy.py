"""Who owns what: organizations (the tenants), their projects and services, and the users'
memberships with their roles."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from governance.models.money import MONEY


class Organization(models.Model):
    """A tenant: every other row belongs to exactly one organization."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Mode(models.TextChoices):
    """The architecture a request goes through (DESIGN.md's `mode`)."""

    ROUTING_FIRST = "routing_first", "routing first"
    ENFORCEMENT_FIRST = "enforcement_first", "enforcement first"
    HYBRID = "hybrid", "hybrid"


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
    check_cost_usd = models.DecimalField(
        **MONEY,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What one policy check costs when its event reports no cost_usd.",
    )
    token_scale = models.PositiveIntegerField(default=8000, validators=[MinValueValidator(1)])
    tool_scale = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    default_mode = models.CharField(
        max_length=32,
        choices=Mode.choices,
        default=Mode.HYBRID,
        help_text="The mode of OTLP routing spans that carry no tollgate.mode attribute "
        "(the JSON ingest API always requires mode).",
    )
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

"""API keys and the per-minute windows that rate-limit them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from governance.models.tenancy import Project, Service


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
        service = self.service if self.service_id and self.project_id else None
        if service is not None and service.project_id != self.project_id:
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

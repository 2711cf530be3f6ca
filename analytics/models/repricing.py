"""Repricings: a back-dated price change, recomputed over the hours it touches."""

from __future__ import annotations

from django.db import models


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

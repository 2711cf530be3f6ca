"""The model matrix: the models a project's router may use, their prices over time, and the
complexity bands that say which model a request of a given score should go to."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from governance.models.money import MONEY
from governance.models.tenancy import Project


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

"""A project's answers to the reference article's five decision questions (DESIGN.md "Project
profile"), from which analytics' advice derives the recommended architecture, and the codes of
the findings that advice reports (architecture_mismatch rules name them).

Every question may stay unanswered (blank): an unanswered question casts no vote, so a team
that knows only some answers still gets advice from those.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from governance.models.tenancy import Project


class Precision(models.TextChoices):
    HIGH = "high", "high"
    MEDIUM = "medium", "medium"
    LOW = "low", "low"


class TrafficPattern(models.TextChoices):
    FIXED = "fixed", "fixed"
    VARIABLE = "variable", "variable"


class Compliance(models.TextChoices):
    STRONG = "strong", "strong"
    MEDIUM = "medium", "medium"
    WEAK = "weak", "weak"


class LatencyTolerance(models.TextChoices):
    LOW = "low", "low"
    MEDIUM = "medium", "medium"
    HIGH = "high", "high"


class CostSensitivity(models.TextChoices):
    HIGH = "high", "high"
    MEDIUM = "medium", "medium"
    LOW = "low", "low"


# The questions in the article's order, each with its answers: the loader, the admin and the
# advice rules all walk this one list.
PROFILE_QUESTIONS: dict[str, type[models.TextChoices]] = {
    "precision": Precision,
    "traffic_pattern": TrafficPattern,
    "compliance": Compliance,
    "latency_tolerance": LatencyTolerance,
    "cost_sensitivity": CostSensitivity,
}


# Each question as the admin and the Architectures page ask it.
PROFILE_QUESTION_TEXTS = {
    "precision": "How precise must answers be?",
    "traffic_pattern": "Is the traffic a fixed set of tasks or variable?",
    "compliance": "How strong are the compliance requirements?",
    "latency_tolerance": "How much added latency can users tolerate?",
    "cost_sensitivity": "How sensitive is the project to model cost?",
}


def _answer(question: str, note: str = "") -> models.CharField:
    """The field of one question's answer (blank: not answered)."""
    return models.CharField(
        max_length=16,
        choices=PROFILE_QUESTIONS[question].choices,
        blank=True,
        help_text=PROFILE_QUESTION_TEXTS[question] + note,
    )


class ProjectProfile(models.Model):
    """What a project needs, in the article's five questions; blank: not answered."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="profile")
    precision = _answer("precision", " Blank: not answered (no vote).")
    traffic_pattern = _answer("traffic_pattern")
    compliance = _answer("compliance")
    latency_tolerance = _answer("latency_tolerance")
    cost_sensitivity = _answer("cost_sensitivity")
    history = HistoricalRecords()

    class Meta:
        ordering = ["project__organization__name", "project__name"]

    def __str__(self) -> str:
        return f"profile of {self.project}"

    @property
    def answers(self) -> dict[str, str]:
        """The answered questions only, in the article's order."""
        return {
            question: getattr(self, question)
            for question in PROFILE_QUESTIONS
            if getattr(self, question)
        }


# The figures advice compares with the article's reference, each giving two finding codes.
ADVICE_FIGURES = ("error_rate", "violation_rate", "availability", "latency_p95", "migration_time")
NO_PROFILE = "no_profile"
ADVICE_FINDINGS: tuple[str, ...] = (
    NO_PROFILE,
    "mode_mismatch",
    "too_few_layers",
    *(f"{figure}_{side}_reference" for figure in ADVICE_FIGURES for side in ("above", "below")),
)

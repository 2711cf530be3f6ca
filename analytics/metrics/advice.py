"""Which architecture a project's profile asks for (DESIGN.md "Project profile"), and how its
traffic measures against that (`GET /api/v1/advice`).

`advice_recommend` is pure rules: each of the article's five questions answered casts one
vote for a mode; the mode with most votes is recommended, a tie for first recommends hybrid,
and high-risk traffic (precision high or compliance strong) is never left to routing alone.

`project_advice` measures the window's traffic against it: the mode most requests ran in,
the layers checks were seen at, and the findings (governance's ADVICE_FINDINGS codes) that
hold, each with a message that says what is wrong. It reads the comparison of modes (its
row of the measured mode is the one `/compare` gives) and the layer rollups once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from analytics.formatting import percent
from analytics.metrics.breakdowns import layers_checked
from analytics.metrics.compare import metrics_compare
from analytics.metrics.query import MODE_WORDS, MODES, UNKNOWN_MODE, MetricsQuery
from analytics.metrics.reference import figure_words, reference_words
from analytics.metrics.results import CompareRow, Comparison, FigurePosition, ReferenceRange
from governance.models import (
    ADVICE_FINDINGS,
    NO_PROFILE,
    PROFILE_QUESTIONS,
    Project,
    ProjectProfile,
)

ROUTING_FIRST, ENFORCEMENT_FIRST, HYBRID = MODES

# question -> answer -> the mode that answer votes for (the article's section 6).
VOTES: dict[str, dict[str, str]] = {
    "precision": {"high": ENFORCEMENT_FIRST, "medium": HYBRID, "low": ROUTING_FIRST},
    "traffic_pattern": {"fixed": ROUTING_FIRST, "variable": ENFORCEMENT_FIRST},
    "compliance": {"strong": ENFORCEMENT_FIRST, "medium": ROUTING_FIRST, "weak": ROUTING_FIRST},
    "latency_tolerance": {"low": ROUTING_FIRST, "medium": HYBRID, "high": ENFORCEMENT_FIRST},
    "cost_sensitivity": {"high": ROUTING_FIRST, "medium": HYBRID, "low": ROUTING_FIRST},
}
HIGH_RISK_REASON = "high-risk traffic must pass runtime checks"


@dataclass(frozen=True)
class Reason:
    """One answered question and the mode its answer voted for."""

    question: str
    answer: str
    vote: str


@dataclass(frozen=True)
class LayerRange:
    """How many enforcement layers a request should pass, e.g. 5 to 7."""

    lowest: int
    highest: int

    @property
    def label(self) -> str:
        return f"{self.lowest}-{self.highest}"


HIGH_RISK_LAYERS = LayerRange(5, 7)
MEDIUM_RISK_LAYERS = LayerRange(3, 5)
LOW_RISK_LAYERS = LayerRange(1, 3)


@dataclass(frozen=True)
class Recommendation:
    """The votes of the answered questions and what they recommend; no mode and no layers
    when no question is answered (nothing to go on)."""

    votes: dict[str, int]  # every mode, 0 when no answer voted for it
    recommended_mode: str | None
    recommended_layers: LayerRange | None
    reasons: tuple[Reason, ...]  # the answered questions in the article's order
    override: str | None  # why the most-voted mode was set aside, if it was


def advice_recommend(answers: Mapping[str, str]) -> Recommendation:
    """The recommendation for a profile's answers ({question: answer}); an unanswered
    question (absent or blank) casts no vote. An unknown question or answer is a ValueError."""
    reasons = tuple(
        Reason(question=question, answer=answer, vote=_vote(question, answer))
        for question, answer in _answered(answers)
    )
    votes = {mode: sum(reason.vote == mode for reason in reasons) for mode in MODES}
    if not reasons:
        return Recommendation(votes, None, None, reasons, None)
    most = max(votes.values())
    leaders = [mode for mode, count in votes.items() if count == most]
    mode = leaders[0] if len(leaders) == 1 else HYBRID
    override = None
    high_risk = answers.get("precision") == "high" or answers.get("compliance") == "strong"
    if high_risk and mode == ROUTING_FIRST:
        mode, override = HYBRID, HIGH_RISK_REASON
    return Recommendation(votes, mode, _layers(answers), reasons, override)


def _answered(answers: Mapping[str, str]) -> list[tuple[str, str]]:
    unknown = sorted(set(answers) - set(PROFILE_QUESTIONS))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not one of the profile's questions")
    return [
        (question, answers[question]) for question in PROFILE_QUESTIONS if answers.get(question)
    ]


def _vote(question: str, answer: str) -> str:
    try:
        return VOTES[question][answer]
    except KeyError:
        raise ValueError(f"{answer!r} is not an answer to {question}") from None


def _layers(answers: Mapping[str, str]) -> LayerRange:
    """5-7 for high-risk traffic, 3-5 when precision or compliance is medium, else 1-3 (an
    unanswered risk question states no risk)."""
    precision, compliance = answers.get("precision"), answers.get("compliance")
    if precision == "high" or compliance == "strong":
        return HIGH_RISK_LAYERS
    if "medium" in (precision, compliance):
        return MEDIUM_RISK_LAYERS
    return LOW_RISK_LAYERS


# --- The traffic against the recommendation ----------------------------------------------

MODE_MISMATCH = "mode_mismatch"
TOO_FEW_LAYERS = "too_few_layers"
# The compare row's position figures advice judges -> the figure's part of the finding codes
# (governance's ADVICE_FIGURES) and how its message names it.
FIGURE_FINDINGS: dict[str, tuple[str, str]] = {
    "error_rate": ("error_rate", "error rate"),
    "violation_rate": ("violation_rate", "escaped violations"),
    "availability": ("availability", "availability"),
    "latency_p95_ms": ("latency_p95", "latency P95"),
    "migration_time_s": ("migration_time", "traffic migration time"),
}


@dataclass(frozen=True)
class Finding:
    """One of governance's ADVICE_FINDINGS that holds, and what it means for this project."""

    code: str
    message: str


@dataclass(frozen=True)
class Measured:
    """What the project runs: the mode of most of the window's requests, its share of them,
    the distinct layers checks were seen at (every mode's checks: the layer rollups carry no
    mode), and the comparison's row of that mode."""

    mode: str
    share: float  # of the window's requests
    layers_seen: int
    row: CompareRow


@dataclass(frozen=True)
class Advice:
    """A project's advice over a window: its profile's answers (None when it has no profile
    or answered nothing), the recommendation, what the traffic measures (None without
    requests) and the findings that hold, in ADVICE_FINDINGS' order."""

    project: Project
    profile: dict[str, str] | None
    recommendation: Recommendation
    requests: int  # the window's requests of the project, every mode
    measured: Measured | None
    findings: tuple[Finding, ...]

    def holding(self, codes: Iterable[str]) -> tuple[Finding, ...]:
        """The findings among `codes` that hold."""
        wanted = set(codes)
        return tuple(finding for finding in self.findings if finding.code in wanted)


def project_advice(
    query: MetricsQuery,
    project: Project,
    *,
    rollouts: bool = True,
    comparison: Comparison | None = None,
) -> Advice:
    """The project's advice over the query's window and filters (its projects narrowed to
    this one; a mode filter is dropped, since advice asks which mode runs, and a policy
    filter, which would count one policy's layers as the layers seen). Without `rollouts`
    the measured row carries no maintainability (see `metrics_compare`). `comparison` is
    the project's comparison over the window when the caller has read it already (without a
    mode or policy filter): it is then not read again.

    The measured mode is the one with most of the window's requests (`unknown`, requests
    no event told a mode of, included). A tie goes to the recommended mode when it is among
    the tied (an even split is not a mismatch), else to the first tied in the comparison's
    order: routing_first, enforcement_first, hybrid, unknown. Without requests nothing is
    measured, and only `no_profile` can be judged."""
    query = replace(query, projects=(project,), mode=None, policy=None)
    profile = ProjectProfile.objects.filter(project=project).first()
    answers = profile.answers if profile is not None else {}
    recommendation = advice_recommend(answers)
    if comparison is None:
        comparison = metrics_compare(query, rollouts=rollouts)
    rows = comparison.rows
    requests = sum(row.traffic.requests for row in rows)
    measured = None
    if requests:
        row = _measured_row(rows, recommendation.recommended_mode)
        measured = Measured(
            mode=row.mode,
            share=round(row.traffic.requests / requests, 6),
            layers_seen=layers_checked(query),
            row=row,
        )
    found = advice_findings(recommendation, measured, answered=bool(answers))
    return Advice(
        project=project,
        profile=answers or None,
        recommendation=recommendation,
        requests=requests,
        measured=measured,
        findings=tuple(sorted(found, key=lambda finding: ADVICE_FINDINGS.index(finding.code))),
    )


def _measured_row(rows: tuple[CompareRow, ...], recommended: str | None) -> CompareRow:
    """The row with most requests; ties as `project_advice` says (rows come in the
    comparison's order, so the first tied is the first in that order)."""
    most = max(row.traffic.requests for row in rows)
    tied = [row for row in rows if row.traffic.requests == most]
    return next((row for row in tied if row.mode == recommended), tied[0])


def advice_findings(
    recommendation: Recommendation, measured: Measured | None, *, answered: bool
) -> list[Finding]:
    """The findings that hold (unordered): `no_profile` when nothing is answered; with
    traffic, `mode_mismatch` and `too_few_layers` against the recommendation (when there is
    one), and a figure's `_above_reference` / `_below_reference` from the measured row's
    positions against the article's figures for the measured mode."""
    found = []
    if not answered:
        found.append(
            Finding(
                NO_PROFILE,
                "no profile: answer the five questions in the project's profile to get a "
                "recommended architecture",
            )
        )
    if measured is None:
        return found
    mode, layers = recommendation.recommended_mode, recommendation.recommended_layers
    if mode is not None and measured.mode != mode:
        found.append(Finding(MODE_MISMATCH, _mismatch_message(recommendation, mode, measured)))
    if layers is not None and measured.layers_seen < layers.lowest:
        found.append(
            Finding(
                TOO_FEW_LAYERS,
                f"checks were seen at {measured.layers_seen} "
                f"layer{'s' * (measured.layers_seen != 1)}; your profile calls for "
                f"{layers.label}",
            )
        )
    references = {ref.figure: ref for ref in measured.row.reference}
    for figure in measured.row.position:
        if figure.figure in FIGURE_FINDINGS and figure.position in ("above", "below"):
            found.append(_figure_finding(figure, references[figure.figure], measured.mode))
    return found


def _mismatch_message(recommendation: Recommendation, mode: str, measured: Measured) -> str:
    why = f" ({recommendation.override})" if recommendation.override else ""
    share = percent(measured.share)
    if measured.mode == UNKNOWN_MODE:
        running = f"most of your requests ({share}) carry no mode"
    else:
        running = f"you run {MODE_WORDS[measured.mode]} ({share} of the window's requests)"
    return f"your profile calls for {MODE_WORDS[mode]}{why} and {running}"


def _figure_finding(figure: FigurePosition, reference: ReferenceRange, mode: str) -> Finding:
    code, name = FIGURE_FINDINGS[figure.figure]
    value = "n/a" if figure.value is None else figure_words(figure.figure, figure.value)
    return Finding(
        f"{code}_{figure.position}_reference",
        f"{name} {value}, {figure.position} the {reference_words(reference)} the article "
        f"gives for {MODE_WORDS[mode]}",
    )

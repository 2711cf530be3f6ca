"""The architectures page's per-project part: each project's profile answers, the
recommended mode and layers with the votes behind them, what its traffic runs, and the
findings, in words.

Each project's advice is its own reads (`project_advice`: the profile, the comparison of its
modes, the layers its checks were seen at), so the page shows at most ADVICE_SHOWN projects;
with more in view it names the rest and asks for a project filter.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from analytics.dashboard.filters import Selection
from analytics.dashboard.pages.comparison_table import WORSE_WHEN
from analytics.formatting import percent
from analytics.metrics.advice import FIGURE_FINDINGS, MODE_MISMATCH, TOO_FEW_LAYERS, Advice
from analytics.metrics.advice import project_advice as advice_of
from analytics.metrics.query import MODE_WORDS
from analytics.metrics.results import Comparison
from governance.models import NO_PROFILE, PROFILE_QUESTION_TEXTS, PROFILE_QUESTIONS, Project

# Projects whose advice the page reads: each is five reads (its profile, the comparison's
# two and its incidents, the layers checked; the cards show no rollouts, so none are walked),
# so the page reads at most 14 + 5 * 8 = 54 times; with one project in view its advice takes
# the page's comparison and reads twice more (its profile, the layers checked).
ADVICE_SHOWN = 8
ADMIN_PROJECT = f"{Project._meta.app_label}_{Project._meta.model_name}"  # the admin's URL names
FINDING_TITLES = {
    NO_PROFILE: "No profile",
    MODE_MISMATCH: "Runs another architecture than its profile calls for",
    TOO_FEW_LAYERS: "Fewer enforcement layers than its profile calls for",
    **{
        f"{code}_{side}_reference": (
            f"{name[0].upper()}{name[1:]} {side} the article's reference: "
            f"{'worse' if WORSE_WHEN[figure] == side else 'better'}"
        )
        for figure, (code, name) in FIGURE_FINDINGS.items()
        for side in ("above", "below")
    },
}


@dataclass(frozen=True)
class Answer:
    """One of the five questions, the profile's answer and the mode it votes for."""

    question: str  # the profile's field
    text: str  # the question in words
    answer: str  # empty: not answered
    vote: str  # the mode the answer votes for, in words; empty when not answered


@dataclass(frozen=True)
class FindingShown:
    """A finding that holds: its code, its title in words, and advice's message."""

    code: str
    title: str
    message: str


@dataclass(frozen=True)
class ProjectAdvice:
    """A project's advice as the page shows it."""

    project: str
    advice: Advice
    answers: tuple[Answer, ...]  # all five questions, answered or not
    recommended: str  # the recommended mode in words, empty without answers
    measured: str  # the measured mode in words, empty without traffic
    measured_share: str  # its share of the project's requests, as a percent
    votes: tuple[tuple[str, int], ...]  # (mode in words, votes), most first
    findings: tuple[FindingShown, ...]
    profile_url: str  # the admin page where the profile is set (shown to staff only)


def project_advice_cards(
    selection: Selection, comparison: Comparison
) -> tuple[list[ProjectAdvice], list[str]]:
    """The advice of the first ADVICE_SHOWN projects of the selection (by name) and the
    names of the others. `comparison` is the page's: when it is of one project and no policy
    (the page has no mode), it is that project's advice's comparison too, not read again."""
    query = selection.query
    projects = sorted(query.projects, key=lambda project: project.name)
    shown, rest = projects[:ADVICE_SHOWN], projects[ADVICE_SHOWN:]
    own = comparison if len(projects) == 1 and query.mode is None and query.policy is None else None
    return [_card(advice_of(query, p, rollouts=False, comparison=own), p) for p in shown], [
        p.name for p in rest
    ]


def _card(advice: Advice, project: Project) -> ProjectAdvice:
    recommendation = advice.recommendation
    answers = advice.profile or {}
    votes = {reason.question: reason.vote for reason in recommendation.reasons}
    return ProjectAdvice(
        project=project.name,
        advice=advice,
        answers=tuple(
            Answer(
                question=question,
                text=PROFILE_QUESTION_TEXTS[question],
                answer=answers.get(question, ""),
                vote=MODE_WORDS.get(votes.get(question, ""), ""),
            )
            for question in PROFILE_QUESTIONS
        ),
        recommended=MODE_WORDS.get(recommendation.recommended_mode or "", ""),
        measured=MODE_WORDS.get(advice.measured.mode, "") if advice.measured else "",
        measured_share=percent(advice.measured.share) if advice.measured else "",
        votes=tuple(
            (MODE_WORDS[mode], count)
            for mode, count in sorted(recommendation.votes.items(), key=lambda item: -item[1])
        ),
        findings=tuple(
            FindingShown(
                code=finding.code,
                title=FINDING_TITLES.get(finding.code, finding.code.replace("_", " ")),
                message=finding.message,
            )
            for finding in advice.findings
        ),
        profile_url=reverse(f"admin:{ADMIN_PROJECT}_change", args=[project.pk]),
    )

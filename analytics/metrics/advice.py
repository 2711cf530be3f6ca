"""Which architecture a project's profile asks for (DESIGN.md "Project profile"): each of the
article's five questions answered casts one vote for a mode; the mode with most votes is
recommended, a tie for first recommends hybrid, and high-risk traffic (precision high or
compliance strong) is never left to routing alone. Pure rules: the profile's answers in, a
typed result out; what the traffic measures against it is judged elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from governance.models import PROFILE_QUESTIONS

ROUTING_FIRST = "routing_first"
ENFORCEMENT_FIRST = "enforcement_first"
HYBRID = "hybrid"
MODES = (ROUTING_FIRST, ENFORCEMENT_FIRST, HYBRID)

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

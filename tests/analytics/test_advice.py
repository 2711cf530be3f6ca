"""Advice's rules (DESIGN.md "Project profile"): each answer's vote, the most-voted mode, a tie
recommending hybrid, high-risk traffic never left to routing alone, the layer bands, and
unanswered questions casting no vote."""

from __future__ import annotations

from itertools import product

import pytest

from analytics.metrics.advice import (
    HIGH_RISK_REASON,
    VOTES,
    LayerRange,
    Reason,
    advice_recommend,
)
from analytics.metrics.query import MODES
from governance.models import PROFILE_QUESTIONS

R, E, H = "routing_first", "enforcement_first", "hybrid"

# The DESIGN.md table, written out again rather than read from VOTES.
TABLE = {
    ("precision", "high"): E,
    ("precision", "medium"): H,
    ("precision", "low"): R,
    ("traffic_pattern", "fixed"): R,
    ("traffic_pattern", "variable"): E,
    ("compliance", "strong"): E,
    ("compliance", "medium"): R,
    ("compliance", "weak"): R,
    ("latency_tolerance", "low"): R,
    ("latency_tolerance", "medium"): H,
    ("latency_tolerance", "high"): E,
    ("cost_sensitivity", "high"): R,
    ("cost_sensitivity", "medium"): H,
    ("cost_sensitivity", "low"): R,
}


def test_the_vote_table_answers_every_answer_of_every_question():
    """governance's choices and advice's table list the same questions and answers."""
    assert list(VOTES) == list(PROFILE_QUESTIONS)
    for question, choices in PROFILE_QUESTIONS.items():
        assert set(VOTES[question]) == set(choices.values)
    assert {(q, a) for q, answers in VOTES.items() for a in answers} == set(TABLE)


@pytest.mark.parametrize(("question", "answer"), sorted(TABLE))
def test_one_answer_casts_one_vote_for_its_mode(question, answer):
    advice = advice_recommend({question: answer})
    mode = TABLE[question, answer]
    assert advice.votes == {m: int(m == mode) for m in MODES}
    assert advice.reasons == (Reason(question=question, answer=answer, vote=mode),)
    assert advice.recommended_mode == mode  # a single vote for routing is never high-risk
    assert advice.override is None
    risk = {"precision": "", "compliance": ""} | {question: answer}
    expected = LAYERS[risk["precision"], risk["compliance"]]
    assert advice.recommended_layers is not None
    assert advice.recommended_layers.label == expected


def test_the_mode_with_most_votes_is_recommended():
    advice = advice_recommend(
        {
            "precision": "low",  # R
            "traffic_pattern": "fixed",  # R
            "compliance": "weak",  # R
            "latency_tolerance": "high",  # E
            "cost_sensitivity": "medium",  # H
        }
    )
    assert advice.votes == {R: 3, E: 1, H: 1}
    assert advice.recommended_mode == R
    assert advice.override is None
    assert [reason.question for reason in advice.reasons] == list(PROFILE_QUESTIONS)
    assert [reason.vote for reason in advice.reasons] == [R, R, R, E, H]


def test_enforcement_wins_with_most_votes():
    advice = advice_recommend(
        {"precision": "high", "traffic_pattern": "variable", "cost_sensitivity": "high"}
    )
    assert advice.votes == {R: 1, E: 2, H: 0}
    assert advice.recommended_mode == E
    assert advice.override is None


@pytest.mark.parametrize(
    ("answers", "votes"),
    [
        ({"traffic_pattern": "fixed", "latency_tolerance": "high"}, {R: 1, E: 1, H: 0}),
        ({"precision": "medium", "traffic_pattern": "variable"}, {R: 0, E: 1, H: 1}),
        ({"cost_sensitivity": "medium", "latency_tolerance": "low"}, {R: 1, E: 0, H: 1}),
        (
            {"precision": "medium", "traffic_pattern": "fixed", "latency_tolerance": "high"},
            {R: 1, E: 1, H: 1},
        ),
        (
            {
                "precision": "low",
                "traffic_pattern": "variable",
                "compliance": "medium",
                "latency_tolerance": "high",
            },
            {R: 2, E: 2, H: 0},
        ),
    ],
)
def test_a_tie_for_first_recommends_hybrid(answers, votes):
    advice = advice_recommend(answers)
    assert advice.votes == votes
    assert advice.recommended_mode == H
    assert advice.override is None  # hybrid by the tie, not by the high-risk rule


def test_a_tie_below_first_place_does_not_matter():
    advice = advice_recommend(
        {
            "traffic_pattern": "variable",  # E
            "compliance": "strong",  # E
            "precision": "low",  # R
            "cost_sensitivity": "medium",  # H
        }
    )
    assert advice.votes == {R: 1, E: 2, H: 1}
    assert advice.recommended_mode == E


@pytest.mark.parametrize(
    "risk",
    [
        {"precision": "high"},
        {"compliance": "strong"},
        {"precision": "high", "compliance": "strong"},
    ],
)
def test_high_risk_traffic_is_never_left_to_routing(risk):
    routing_heavy = {
        "traffic_pattern": "fixed",
        "latency_tolerance": "low",
        "cost_sensitivity": "high",
    }
    advice = advice_recommend(routing_heavy | risk)
    assert advice.votes[R] == 3 and advice.votes[R] > advice.votes[E] >= 1
    assert advice.recommended_mode == H
    assert advice.override == HIGH_RISK_REASON == "high-risk traffic must pass runtime checks"
    assert advice.recommended_layers == LayerRange(5, 7)


def test_without_high_risk_the_same_routing_votes_recommend_routing():
    advice = advice_recommend(
        {
            "precision": "medium",
            "compliance": "medium",
            "traffic_pattern": "fixed",
            "latency_tolerance": "low",
            "cost_sensitivity": "high",
        }
    )
    assert advice.votes == {R: 4, E: 0, H: 1}
    assert advice.recommended_mode == R
    assert advice.override is None


# precision x compliance (blank: unanswered) -> the recommended layers, written out.
LAYERS = {
    ("high", "strong"): "5-7", ("high", "medium"): "5-7", ("high", "weak"): "5-7",
    ("high", ""): "5-7", ("medium", "strong"): "5-7", ("low", "strong"): "5-7",
    ("", "strong"): "5-7", ("medium", "medium"): "3-5", ("medium", "weak"): "3-5",
    ("medium", ""): "3-5", ("low", "medium"): "3-5", ("", "medium"): "3-5",
    ("low", "weak"): "1-3", ("low", ""): "1-3", ("", "weak"): "1-3", ("", ""): "1-3",
}  # fmt: skip


@pytest.mark.parametrize(("precision", "compliance"), sorted(LAYERS))
def test_layer_bands_follow_precision_and_compliance(precision, compliance):
    answers = {"precision": precision, "compliance": compliance, "traffic_pattern": "fixed"}
    advice = advice_recommend(answers)
    assert advice.recommended_layers is not None
    assert advice.recommended_layers.label == LAYERS[precision, compliance]


def test_the_layer_table_covers_every_pair_of_answers():
    answers = (
        [*PROFILE_QUESTIONS["precision"].values, ""],
        [
            *PROFILE_QUESTIONS["compliance"].values,
            "",
        ],
    )
    assert set(LAYERS) == set(product(*answers))
    assert advice_recommend({"precision": "medium"}).recommended_layers == LayerRange(3, 5)


def test_unanswered_questions_cast_no_vote():
    partial = advice_recommend({"precision": "low", "compliance": "", "latency_tolerance": ""})
    assert partial.votes == {R: 1, E: 0, H: 0}
    assert partial.reasons == (Reason("precision", "low", R),)
    assert partial.recommended_mode == R
    assert partial.recommended_layers == LayerRange(1, 3)


def test_a_profile_with_no_answers_recommends_nothing():
    for answers in ({}, dict.fromkeys(PROFILE_QUESTIONS, "")):
        advice = advice_recommend(answers)
        assert advice.votes == {R: 0, E: 0, H: 0}
        assert advice.recommended_mode is None
        assert advice.recommended_layers is None
        assert advice.reasons == ()


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ({"precision": "extreme"}, "'extreme' is not an answer to precision"),
        ({"traffic_pattern": "medium"}, "'medium' is not an answer to traffic_pattern"),
        ({"budget": "high"}, "'budget' is not one of the profile's questions"),
    ],
)
def test_unknown_questions_and_answers_are_refused(answers, says):
    with pytest.raises(ValueError, match=says):
        advice_recommend(answers)


def test_the_result_is_frozen():
    advice = advice_recommend({"precision": "low"})
    with pytest.raises(AttributeError):
        advice.recommended_mode = E  # type: ignore[misc]

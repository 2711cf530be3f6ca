"""The demo projects' profiles: every project answers all five questions, and exactly one (the
research assistant) runs a mode its answers do not recommend, by DESIGN.md's vote table."""

from __future__ import annotations

from collections import Counter

from tollgate.demo.traffic import SCENARIOS

# DESIGN.md "Project profile": each answer's vote.
VOTES = {
    "precision": {"high": "enforcement_first", "medium": "hybrid", "low": "routing_first"},
    "traffic_pattern": {"fixed": "routing_first", "variable": "enforcement_first"},
    "compliance": {
        "strong": "enforcement_first",
        "medium": "routing_first",
        "weak": "routing_first",
    },
    "latency_tolerance": {"low": "routing_first", "medium": "hybrid", "high": "enforcement_first"},
    "cost_sensitivity": {"high": "routing_first", "medium": "hybrid", "low": "routing_first"},
}


def _recommended(answers: dict[str, str]) -> str:
    votes = Counter(VOTES[question][answer] for question, answer in answers.items())
    (first, most), *rest = votes.most_common()
    mode = "hybrid" if rest and rest[0][1] == most else first
    high_risk = answers["precision"] == "high" or answers["compliance"] == "strong"
    return "hybrid" if high_risk and mode == "routing_first" else mode


def test_one_project_runs_against_its_profile():
    contradicting = {}
    for name, scenario in SCENARIOS.items():
        assert scenario.profile is not None, name
        answers = scenario.profile.document()
        assert set(answers) == set(VOTES), name
        recommended = _recommended(answers)
        if recommended != scenario.mode:
            contradicting[name] = (scenario.mode, recommended)
    assert contradicting == {"research_assistant": ("hybrid", "routing_first")}


def test_trading_and_medical_need_precision_the_content_platform_low_cost():
    for name in ("financial_trading", "medical_assistant"):
        profile = SCENARIOS[name].profile
        assert profile is not None
        assert (profile.precision, profile.compliance) == ("high", "strong")
    content = SCENARIOS["content_platform"].profile
    assert content is not None
    assert (content.precision, content.cost_sensitivity) == ("low", "high")

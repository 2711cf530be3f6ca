"""The demo projects' profiles, judged by advice's own rules: every project answers all five
questions, exactly one (the research assistant) runs a mode its answers do not recommend, and
none checks at fewer layers than its answers ask for."""

from __future__ import annotations

from analytics.metrics.advice import advice_recommend
from governance.models import PROFILE_QUESTIONS
from tollgate.demo.traffic import SCENARIOS


def test_one_project_runs_against_its_profile():
    contradicting = {}
    for name, scenario in SCENARIOS.items():
        assert scenario.profile is not None, name
        answers = scenario.profile.document()
        assert set(answers) == set(PROFILE_QUESTIONS), name
        recommendation = advice_recommend(answers)
        if recommendation.recommended_mode != scenario.mode:
            contradicting[name] = (scenario.mode, recommendation.recommended_mode)
        layers = recommendation.recommended_layers
        assert layers is not None and len(scenario.layers) >= layers.lowest, name
    assert contradicting == {"research_assistant": ("hybrid", "routing_first")}

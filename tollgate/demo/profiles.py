"""The demo projects' answers to the reference article's five questions (DESIGN.md "Project
profile"), loaded with each project's matrix under `"profile"`.

The answers follow the article's section 3, which names example businesses per answer. Four
projects run the mode their answers recommend. The research assistant runs hybrid (the
article's own section 7.5 case) although section 3's answers for research recommend
routing_first (variable traffic, weak compliance, low cost sensitivity), which is what the
advice's `mode_mismatch` finding and the project's `architecture_mismatch` rule are there to
show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Profile:
    """One answer per question, in the words of `load_matrix`'s `"profile"`."""

    precision: str  # high, medium, low
    traffic_pattern: str  # fixed, variable
    compliance: str  # strong, medium, weak
    latency_tolerance: str  # low, medium, high
    cost_sensitivity: str  # high, medium, low

    def document(self) -> dict[str, str]:
        return asdict(self)


# Votes (DESIGN.md): hybrid 3 (precision, latency, cost), routing_first 2 -> hybrid.
CUSTOMER_SERVICE = Profile(
    precision="medium",
    traffic_pattern="fixed",
    compliance="medium",
    latency_tolerance="medium",
    cost_sensitivity="medium",
)
# enforcement_first 4 (precision, traffic, compliance, latency), hybrid 1 -> enforcement_first.
FINANCIAL_TRADING = Profile(
    precision="high",
    traffic_pattern="variable",
    compliance="strong",
    latency_tolerance="high",
    cost_sensitivity="medium",
)
# enforcement_first 3 (precision, compliance, latency), routing_first 2 -> enforcement_first.
MEDICAL_ASSISTANT = Profile(
    precision="high",
    traffic_pattern="fixed",
    compliance="strong",
    latency_tolerance="high",
    cost_sensitivity="low",
)
# routing_first 4 (precision, traffic, compliance, cost), hybrid 1 -> routing_first; low
# precision and weak compliance recommend 1-3 layers, and it runs two.
CONTENT_PLATFORM = Profile(
    precision="low",
    traffic_pattern="fixed",
    compliance="weak",
    latency_tolerance="medium",
    cost_sensitivity="high",
)
# routing_first 3 (precision, compliance, cost), enforcement_first 2 -> routing_first, while the
# project runs hybrid: the demo's mode mismatch.
RESEARCH_ASSISTANT = Profile(
    precision="low",
    traffic_pattern="variable",
    compliance="weak",
    latency_tolerance="high",
    cost_sensitivity="low",
)

"""What enforcement costs and saves in each demo scenario, and the LLM judge some of them run.

DESIGN.md's savings multiple is (routing savings + error-cost savings) / enforcement cost. With
the default unit costs and free checks, the demo's enforcement cost a hundredth of a cent per
request against routing savings near one cent, so the projects showed multiples of 40x to
200x. The reference article's cases (section 5.5, section 7) quote 2-4x: enforcement there
is real spend. Here it is too:

- an LLM judge (`LlmJudge`) at the verification layer reads the rubric and the answer and costs
  its tokens at the judge model's price, reported as the check's `cost_usd`;
- the other checks (PII filters, moderation APIs, entitlement look-ups) cost `check_usd` each,
  the project's `check_cost` setting;
- an intercepted request costs its handling (`interception_usd`: a canned answer, a queue entry,
  a human moderator), a modified one its rewrite (`correction_usd`, about one model call);
- a violation caught before delivery saves `incident_usd`: the expected cost of the incident it
  would have become (its probability times its cost), set per scenario so that the multiple
  lands near the article's figure for that case (`tests/demo/test_demo_economics.py` measures it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

MICRO_USD = Decimal("0.000001")


@dataclass(frozen=True)
class Economics:
    """A scenario's unit costs, in USD (the project's matrix `settings`)."""

    interception_usd: str = "0.002"
    correction_usd: str = "0.005"
    incident_usd: str = "0"
    check_usd: str = "0"

    def settings(self) -> dict[str, str]:
        """The `load_matrix` settings these costs set."""
        return {
            "interception_cost": self.interception_usd,
            "correction_cost": self.correction_usd,
            "incident_cost": self.incident_usd,
            "check_cost": self.check_usd,
        }


@dataclass(frozen=True)
class LlmJudge:
    """An LLM that judges `share` of a scenario's answers at the verification layer.

    It reads its rubric (and the policy's guidelines) plus the answer, writes a short verdict,
    and reports what the call cost. `version` is its prompt's version (`policy_version`).
    """

    policy: str
    version: str
    model: str
    price_per_1k: Decimal  # the judge model's price per 1,000 tokens, input and output alike
    rubric_tokens: tuple[int, int]
    verdict_tokens: tuple[int, int]
    share: float  # of the requests reaching verification
    latency_ms: tuple[float, float]

    def call_cost_usd(self, answer_tokens: int, rng: random.Random) -> tuple[Decimal, float]:
        """One call's cost (to the micro-dollar) and latency, judging an answer this long."""
        rubric, verdict = rng.randint(*self.rubric_tokens), rng.randint(*self.verdict_tokens)
        tokens = rubric + answer_tokens + verdict
        cost = (Decimal(tokens) * self.price_per_1k / 1000).quantize(MICRO_USD)
        return cost, round(rng.uniform(*self.latency_ms), 1)

"""Generated routing and enforcement traffic for the five demo scenarios (DESIGN.md).

A `Scenario` describes one product of the reference article: its architecture (mode), model mix,
enforcement layers, latency range, traffic volume, how often its checks block, modify or flag,
what its enforcement costs and saves (`tollgate.demo.economics`, with the LLM judge some
scenarios run at verification), its router's version and its answers to the article's five
questions (`tollgate.demo.profiles`). `request_events` turns one request of a scenario into
event dicts in the exact wire format of `POST /api/v1/ingest` (Event schema v1), changed by any
incident active at that moment (`tollgate.demo.incidents`: outages, drift, over-interception,
releases of a new router or policy version); `scenario_events` does it for a number of requests
spread over a window. Everything random comes from the `rng` passed in, so the same seed gives the same
events, event ids included: posting them twice shows up as duplicates, not as new traffic.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from tollgate.demo import profiles
from tollgate.demo.economics import Economics, LlmJudge
from tollgate.demo.incidents import ROUTER, Conditions
from tollgate.demo.profiles import Profile

Event = dict[str, Any]

PRE_MODEL_LAYERS = ("preprocess", "routing")  # a block here means the model is never called
POST_MODEL_LAYERS = ("execution", "verification")
REVIEW = "review"  # after delivery: finds escaped violations, overturns false positives
ALL_LAYERS = (*PRE_MODEL_LAYERS, *POST_MODEL_LAYERS, REVIEW)
HYBRID_LAYERS = ("preprocess", "routing", "verification", REVIEW)

PROVIDERS = {"gpt-5.4": "openai", "claude-opus-4.6": "anthropic", "gemini-3.1-pro": "google"}
# Complexity scores the reference bands send to each model; typical (input, output) tokens.
MODEL_SCORES = {
    "gpt-5.4": ((0, 30),),
    "claude-opus-4.6": ((30, 60), (90, 100)),
    "gemini-3.1-pro": ((60, 90),),
}
MODEL_TOKENS = {
    "gpt-5.4": ((300, 3000), (80, 800)),
    "claude-opus-4.6": ((1500, 12000), (300, 2000)),
    "gemini-3.1-pro": ((800, 6000), (200, 1200)),
}
LAYER_POLICIES = {
    "preprocess": ("pii_redaction", "prompt_injection"),
    "routing": ("model_entitlement", "data_residency"),
    "execution": ("tool_permissions", "spend_guard"),
    "verification": ("output_safety", "grounding_check"),
    REVIEW: ("post_delivery_audit",),
}
FAILURES = (("error", "provider_5xx"), ("timeout", "upstream_timeout"), ("rate_limited", "429"))
# A provider outage: mostly fast 5xx answers, some calls hanging until the router gives up.
OUTAGE_FAILURES = (("error", "provider_5xx"), ("timeout", "upstream_timeout"))
OUTAGE_FAILURE_WEIGHTS = (0.7, 0.3)
ROUTER_TIMEOUT_MS = 10_000.0
THROTTLED = ("rate_limited", "429")
TIERS = ("standard", "advanced", "vip")
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_WEIGHTS = {"block": (1, 3, 4, 2), "modify": (3, 4, 2, 1), "flag": (5, 3, 1, 0)}
ROUTER_VERSION = "router-2026.11.3"  # every router's version until a release replaces it
JUDGE_LAYER = "verification"
MISROUTE_RATE = 0.03  # attempts whose model is not the one the bands name for their score
FALLBACK_RATE = 0.7  # failed attempts retried on another model


@dataclass(frozen=True)
class Scenario:
    """One demo product. Rates are fractions of requests, latencies milliseconds."""

    project: str
    mode: str
    model_shares: tuple[tuple[str, float], ...]
    layers: tuple[str, ...]
    latency_ms: tuple[float, float]
    escaped_violation_rate: float  # delivered requests whose violation only review finds
    block_rate: float
    modify_rate: float
    flag_rate: float
    violations: tuple[str, ...]
    error_rate: float = 0.008
    false_positive_rate: float = 0.1  # intercepted requests that review overturns
    review_sample_rate: float = 0.03  # delivered requests audited at review, nothing found
    tier_weights: tuple[float, float, float] = (0.7, 0.25, 0.05)
    max_tool_calls: int = 3
    requests_per_hour: float = (
        100.0  # the mean; the time of day moves it (tollgate.demo.simulation)
    )
    economics: Economics = field(default_factory=Economics)
    judge: LlmJudge | None = None  # judges a share of the answers at verification
    router_version: str = ROUTER_VERSION
    profile: Profile | None = None


def _judge(model: str, price_per_1k: str, *, share: float, rubric: tuple[int, int]) -> LlmJudge:
    """The demo's LLM judge (`llm_judge_v1`) on `model`, judging `share` of the answers."""
    return LlmJudge(
        policy="llm_judge_v1",
        version="judge-prompt-7",
        model=model,
        price_per_1k=Decimal(price_per_1k),
        rubric_tokens=rubric,
        verdict_tokens=(40, 160),
        share=share,
        latency_ms=(90.0, 260.0),
    )


# fmt: off
SCENARIOS: dict[str, Scenario] = {
    "customer_service": Scenario(
        project="customer-service", requests_per_hour=300, mode="hybrid",
        model_shares=(("gpt-5.4", 0.8), ("claude-opus-4.6", 0.2)),
        layers=HYBRID_LAYERS, latency_ms=(135, 280), escaped_violation_rate=0.0075,
        block_rate=0.012, modify_rate=0.010, flag_rate=0.010,
        violations=("pii_leak", "abusive_language", "refund_policy", "prompt_injection"),
        judge=_judge("gemini-3.1-pro", "0.005", share=0.25, rubric=(1200, 2000)),
        economics=Economics(check_usd="0.0002", correction_usd="0.01", incident_usd="0.25"),
        profile=profiles.CUSTOMER_SERVICE,
    ),
    "financial_trading": Scenario(
        project="financial-trading", requests_per_hour=120, mode="enforcement_first",
        model_shares=(("gpt-5.4", 0.8), ("claude-opus-4.6", 0.2)),
        layers=ALL_LAYERS, latency_ms=(150, 500), escaped_violation_rate=0.0005,
        block_rate=0.030, modify_rate=0.015, flag_rate=0.020,
        violations=("insider_information", "unauthorized_trade", "market_manipulation"),
        tier_weights=(0.4, 0.4, 0.2), max_tool_calls=5,
        judge=_judge("gpt-5.4", "0.007", share=1.0, rubric=(1500, 2500)),
        economics=Economics(
            check_usd="0.0002", interception_usd="0.02", correction_usd="0.01", incident_usd="1.75"
        ),
        profile=profiles.FINANCIAL_TRADING,
    ),
    "medical_assistant": Scenario(
        project="medical-assistant", requests_per_hour=100, mode="enforcement_first",
        model_shares=(("claude-opus-4.6", 0.75), ("gpt-5.4", 0.25)),
        layers=ALL_LAYERS, latency_ms=(180, 550), escaped_violation_rate=0.0025,
        block_rate=0.035, modify_rate=0.025, flag_rate=0.020,
        violations=("phi_exposure", "missing_disclaimer", "dosage_error", "off_label_advice"),
        tier_weights=(0.5, 0.4, 0.1), max_tool_calls=4,
        judge=_judge("claude-opus-4.6", "0.012", share=1.0, rubric=(2500, 4000)),
        economics=Economics(
            check_usd="0.0002", interception_usd="0.02", correction_usd="0.02", incident_usd="2.25"
        ),
        profile=profiles.MEDICAL_ASSISTANT,
    ),
    "content_platform": Scenario(
        project="content-platform", requests_per_hour=400, mode="routing_first",
        model_shares=(("gpt-5.4", 0.9), ("gemini-3.1-pro", 0.1)),
        layers=("verification", REVIEW), latency_ms=(120, 380), escaped_violation_rate=0.015,
        block_rate=0.008, modify_rate=0.006, flag_rate=0.015,
        violations=("hate_speech", "nsfw_image", "copyright", "spam"),
        tier_weights=(0.85, 0.12, 0.03), max_tool_calls=1,
        economics=Economics(
            check_usd="0.0015", interception_usd="0.15", correction_usd="0.02", incident_usd="0.10"
        ),
        profile=profiles.CONTENT_PLATFORM,
    ),
    "research_assistant": Scenario(
        project="research-assistant", requests_per_hour=160, mode="hybrid",
        model_shares=(("gpt-5.4", 0.6), ("claude-opus-4.6", 0.2), ("gemini-3.1-pro", 0.2)),
        layers=HYBRID_LAYERS, latency_ms=(140, 300), escaped_violation_rate=0.011,
        block_rate=0.010, modify_rate=0.008, flag_rate=0.010,
        violations=("hallucinated_citation", "plagiarism", "unsafe_content", "prompt_injection"),
        tier_weights=(0.5, 0.35, 0.15), max_tool_calls=6,
        judge=_judge("gemini-3.1-pro", "0.005", share=0.4, rubric=(1500, 2500)),
        economics=Economics(check_usd="0.0002", correction_usd="0.01", incident_usd="0.35"),
        profile=profiles.RESEARCH_ASSISTANT,
    ),
}
# fmt: on


def scenario_events(
    scenario: Scenario, *, start: datetime, end: datetime, requests: int, rng: random.Random
) -> Iterator[Event]:
    """The events of `requests` requests spread over `[start, end)`, request after request.

    No timestamp lies past `end`: a review that would come later is held back to `end`.
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must carry a UTC offset, with start before end")
    span = (end - start).total_seconds()
    for offset in sorted(rng.uniform(0, span) for _ in range(requests)):
        yield from request_events(scenario, at=start + timedelta(seconds=offset), end=end, rng=rng)


def request_events(
    scenario: Scenario,
    *,
    at: datetime,
    rng: random.Random,
    end: datetime | None = None,
    conditions: Conditions | None = None,
) -> list[Event]:
    """The events of one request made at `at`, in time order: checks before the model, its
    attempts, checks after, maybe a review. `conditions` are the incidents active at `at`;
    with an `end`, no timestamp lies past it (a later review is held back to it)."""
    return _Request(scenario, at, end, rng, conditions).events()


def batches(events: Iterable[Event], size: int = 1000) -> Iterator[list[Event]]:
    """Consecutive lists of at most `size` events, the last one possibly shorter."""
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass(frozen=True)
class _Finding:
    """The verdict of the one check of a request that objects (if any), and where."""

    verdict: str
    layer: str | None
    violation: str | None
    policy: str | None  # None: one of the layer's usual policies
    false_positive_rate: float


class _Request:
    """One request: checks before the model, its attempts, checks after, maybe a review."""

    def __init__(
        self,
        s: Scenario,
        at: datetime,
        end: datetime | None,
        rng: random.Random,
        conditions: Conditions | None,
    ) -> None:
        self.s, self.clock, self.end, self.rng = s, at, end, rng
        self.conditions = conditions or Conditions()
        self.request_id = f"req-{_uuid(rng)}"
        self.found_policy: str | None = None  # the policy whose check objected
        self.answer_tokens = 0  # the delivered answer's length, what a judge reads
        self.router_version = s.router_version

    def event(self, kind: str, delay_ms: float = 0.0, **fields: Any) -> Event:
        """An event `delay_ms` after the previous one, never later than the window's end."""
        self.clock += timedelta(milliseconds=delay_ms)
        if self.end is not None:
            self.clock = min(self.clock, self.end)
        common = {"type": kind, "event_id": _uuid(self.rng), "timestamp": self.clock.isoformat()}
        if kind == "enforcement":
            # Checks carry the architecture too, so a request blocked before any model call
            # (no attempt to tell it) is counted under its mode, not as "unknown".
            common["mode"] = self.s.mode
        return {**common, "request_id": self.request_id, **fields}

    def events(self) -> list[Event]:
        s = self.s
        finding = self.finding()
        events: list[Event] = []
        for layer in (layer for layer in PRE_MODEL_LAYERS if layer in s.layers):
            events.append(self.check(layer, finding))
            if layer == finding.layer and finding.verdict == "block":
                return events + self.review(finding, delivered=False)
        events += self.attempts()
        delivered = events[-1]["status"] == "ok"
        for layer in (layer for layer in POST_MODEL_LAYERS if layer in s.layers):
            events.append(self.check(layer, finding))
            if layer == finding.layer and finding.verdict == "block":
                delivered = False
                break
        return events + self.review(finding, delivered=delivered)

    def finding(self) -> _Finding:
        """What the request's one finding check (if any) decides, and where."""
        s, rng = self.s, self.rng
        checked = [layer for layer in (*PRE_MODEL_LAYERS, *POST_MODEL_LAYERS) if layer in s.layers]
        verdict = _outcome(s, rng)
        layer = rng.choice(checked) if checked and verdict != "allow" else None
        violation = None
        if verdict == "flag" or (verdict != "allow" and rng.random() < 0.9):
            violation = rng.choice(s.violations)
        rogue = self.conditions.interception
        if rogue is not None and verdict == "allow" and rng.random() < rogue.rate:
            # The over-eager policy stops a request nothing else objected to.
            return _Finding(
                verdict=rng.choice(("block", "modify")),
                layer=rogue.layer,
                violation=rogue.violation,
                policy=rogue.policy,
                false_positive_rate=rogue.false_positive_rate,
            )
        return _Finding(verdict, layer, violation, None, s.false_positive_rate)

    def check(self, layer: str, finding: _Finding) -> Event:
        """The check at `layer`: the finding's verdict there, else `allow`."""
        found = layer == finding.layer
        verdict = finding.verdict if found else "allow"
        own_policy = finding.policy if found else None
        judge = None if own_policy else self.judge_at(layer)
        policy = own_policy or (judge.policy if judge else self.rng.choice(LAYER_POLICIES[layer]))
        if found:
            self.found_policy = policy
        extra: dict[str, Any] = {}
        if judge is not None:
            cost, latency = judge.call_cost_usd(self.answer_tokens, self.rng)
            version = self.version(judge.policy, judge.version)
            extra = {"cost_usd": str(cost), "policy_version": version}
        else:
            latency = round(self.rng.uniform(3, 10), 2)
        event = self.event("enforcement", latency, layer=layer, policy=policy, verdict=verdict)
        event |= {"check_latency_ms": latency, **extra}
        if verdict != "allow" and finding.violation:
            event |= {"violation": finding.violation, "severity": _severity(verdict, self.rng)}
        return event

    def judge_at(self, layer: str) -> LlmJudge | None:
        """The scenario's LLM judge when it makes this request's check at `layer`."""
        judge = self.s.judge
        if judge is None or layer != JUDGE_LAYER:
            return None
        if judge.share >= 1 or self.rng.random() < judge.share:
            return judge
        return None

    def version(self, component: str, current: str) -> str:
        """The version of `component` serving this request: a release spreading at this
        moment serves a rising share of requests (a roll is drawn only then)."""
        shares = [
            share for release, share in self.conditions.releases if release.component == component
        ]
        if not shares:
            return current
        roll = self.rng.random() if any(share < 1 for share in shares) else 0.0
        return self.conditions.version(component, current, roll)

    def attempts(self) -> list[Event]:
        """The model call, and a fallback call on another model when the first one fails."""
        s, rng, conditions = self.s, self.rng, self.conditions
        self.router_version = self.version(ROUTER, s.router_version)
        models = [model for model, _ in s.model_shares]
        banded = rng.choices(models, [share for _, share in s.model_shares])[0]
        tier = rng.choices(TIERS, s.tier_weights)[0]
        # The complexity score belongs to the request: the bands name `banded` for it, whatever
        # model ends up serving it (a few percent of requests are misrouted by design).
        score_model = banded if rng.random() >= MISROUTE_RATE else rng.choice(list(MODEL_SCORES))
        score_low, score_high = rng.choice(MODEL_SCORES[score_model])
        score = round(rng.uniform(score_low, score_high - 0.01), 2)
        model = banded
        drift = conditions.drift
        if (
            drift is not None
            and model == drift.from_model
            and rng.random() < conditions.drift_share
        ):
            model = drift.to_model
        outage = conditions.outage
        if outage is not None and model == outage.model and rng.random() < outage.failure_rate:
            failure: tuple[str, ...] = rng.choices(OUTAGE_FAILURES, OUTAGE_FAILURE_WEIGHTS)[0]
            first = self.attempt(model, tier, score, failure=failure, hang_ms=ROUTER_TIMEOUT_MS)
            throttled = conditions.migrating and rng.random() < outage.fallback_throttle_rate
            fallback = self.attempt(
                outage.fallback,
                tier,
                score,
                fallback_from=model,
                failure=THROTTLED if throttled else (),
            )
            return [first, fallback]
        failure = rng.choice(FAILURES) if rng.random() < s.error_rate else ()
        first = self.attempt(model, tier, score, failure=failure)
        others = [name for name in models if name != model]
        if not failure or not others or rng.random() >= FALLBACK_RATE:
            return [first]
        return [first, self.attempt(rng.choice(others), tier, score, fallback_from=model)]

    def attempt(
        self,
        model: str,
        tier: str,
        score: float,
        *,
        fallback_from: str | None = None,
        failure: tuple[str, ...] = (),
        hang_ms: float | None = None,
    ) -> Event:
        """One model call; `failure` is its (status, error_type), empty when it succeeds;
        a timeout lasts `hang_ms` (default: the scenario's slowest answer)."""
        s, rng = self.s, self.rng
        low, high = s.latency_ms
        status, error_type = failure or ("ok", None)
        if status == "timeout":
            latency = hang_ms or high
        elif status == "ok":
            latency = rng.triangular(low, high, low + (high - low) / 3)
        else:  # refused: answered fast
            latency = rng.uniform(20, low)
        (input_low, input_high), (output_low, output_high) = MODEL_TOKENS[model]
        input_tokens = rng.randint(input_low, input_high)
        event = self.event(
            "routing",
            latency,
            model=model,
            provider=PROVIDERS[model],
            mode=s.mode,
            user_tier=tier,
            input_tokens=input_tokens,
            output_tokens=rng.randint(output_low, output_high) if status == "ok" else 0,
            tool_calls=rng.randint(0, s.max_tool_calls) if status == "ok" else 0,
            complexity_score=score,
            latency_ms=round(latency, 1),
            routing_latency_ms=round(rng.uniform(1, 5), 2),
            status=status,
            route_reason="fallback" if fallback_from else "complexity_band",
            router_version=self.router_version,
            attributes={"scenario": s.project},
        )
        if error_type:
            event["error_type"] = error_type
        if fallback_from:
            event["fallback_from"] = fallback_from
        if rng.random() < 0.3:  # a prompt-cache hit on the system prompt
            event["cache_read_tokens"] = rng.randint(0, input_tokens // 2)
        if status == "ok":
            self.answer_tokens = event["output_tokens"]
        return event

    def review(self, finding: _Finding, *, delivered: bool) -> list[Event]:
        """A post-delivery review: overturns a false positive, finds an escape, or audits."""
        s, rng = self.s, self.rng
        if REVIEW not in s.layers:
            return []
        intercepted = finding.verdict in ("block", "modify")
        review: dict[str, Any]
        if intercepted and rng.random() < finding.false_positive_rate:
            review = {"verdict": "allow", "false_positive": True}
        elif delivered and rng.random() < s.escaped_violation_rate:
            found = rng.choice(s.violations)
            review = {"verdict": "flag", "violation": found, "severity": _severity("block", rng)}
        elif delivered and rng.random() < s.review_sample_rate:
            review = {"verdict": "allow"}
        else:
            return []
        later_ms = rng.uniform(30_000, 7_200_000)  # reviewers look minutes to hours later
        policy, latency = LAYER_POLICIES[REVIEW][0], round(rng.uniform(3, 10), 2)
        if review.get("false_positive") and self.found_policy:
            policy = self.found_policy  # a review that overturns a check names its policy
        event = self.event("enforcement", later_ms, layer=REVIEW, policy=policy, **review)
        return [{**event, "check_latency_ms": latency}]


def _outcome(s: Scenario, rng: random.Random) -> str:
    """What the request's one finding check (if any) decides: block, modify, flag or allow."""
    roll = rng.random()
    for verdict, rate in (("block", s.block_rate), ("modify", s.modify_rate)):
        if roll < rate:
            return verdict
        roll -= rate
    return "flag" if roll < s.flag_rate else "allow"


def _severity(verdict: str, rng: random.Random) -> str:
    return rng.choices(SEVERITIES, SEVERITY_WEIGHTS[verdict])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))

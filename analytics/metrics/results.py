"""What the metric queries answer: frozen dataclasses, serialized only at the edge.

Money is a `Decimal` rounded to the micro-dollar (six places), as every answer has always
shown it, so a page, an email and the API print the same figure without parsing a string
back. Rates, shares and ratios are `float | None` (None when their denominator is zero),
counts are ints, latencies are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ALL_PERCENTILES = ("p50", "p75", "p90", "p95", "p99")
OVERHEAD_PERCENTILES = ("p50", "p95", "p99")
CHECK_PERCENTILES = ("p50", "p95")

SeriesValue = int | float | Decimal | None  # a count, a rate or latency, or money


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles in ms (None without samples; only those read are set), and the
    mean where the rollups keep a sum."""

    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None


@dataclass(frozen=True, slots=True)
class RepricingProgress:
    """An unfinished repricing job that is still moving a project's money figures."""

    project: str
    reason: str
    progress: float  # 0..1


@dataclass(frozen=True, slots=True)
class Summary:
    """Every headline figure of DESIGN.md's summary for a query."""

    requests: int
    attempts: int
    error_rate: float | None
    availability: float | None
    latency_ms: Latency
    routing_latency_ms: Latency
    overhead_ms: Latency
    end_to_end_ms: Latency  # per request: its attempts (routing + call) and its checks
    cost_usd: Decimal
    cost_per_1k_requests_usd: Decimal | None
    unpriced_attempts: int
    input_tokens: int
    output_tokens: int
    interception_rate: float | None
    block_rate: float | None
    modify_rate: float | None
    violation_rate: float | None
    detected_violation_rate: float | None
    catch_rate: float | None
    false_positive_rate: float | None
    enforcement_cost_usd: Decimal
    enforcement_cost_per_1k_requests_usd: Decimal | None
    baseline_cost_usd: Decimal
    routing_savings_usd: Decimal
    error_cost_savings_usd: Decimal
    roi: float | None
    savings_multiple: float | None


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One model's attempts, share of attempts, cost, latency and error rate."""

    model: str
    provider: str
    attempts: int
    share: float | None
    cost_usd: Decimal
    unpriced_attempts: int
    latency_ms: Latency
    error_rate: float | None


@dataclass(frozen=True, slots=True)
class SpendRow:
    """The spend of one project, service or model (`name`), as the summary counts it."""

    name: str
    attempts: int
    requests: int
    cost_usd: Decimal
    cost_per_1k_requests_usd: Decimal | None
    unpriced_attempts: int


@dataclass(frozen=True, slots=True)
class LayerRow:
    """One enforcement layer's checks, interceptions and check latency."""

    layer: str
    checks: int
    blocks: int
    modifies: int
    interception_rate: float | None
    check_latency_ms: Latency


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One policy's checks (every enforcement event that names it), interceptions, the false
    positives review found in them, check latency and what its checks cost."""

    policy: str
    layer: str  # where it checks: its layer with the most checks, review only if it has no other
    checks: int
    blocks: int
    modifies: int
    flags: int
    interception_rate: float | None  # (blocks + modifies) / checks
    false_positives: int
    check_latency_ms: Latency
    check_cost_usd: Decimal  # reported costs + unreported checks x the project's check cost


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One metric's value in one interval (and group, when the series is grouped)."""

    time: datetime  # the interval's start, UTC
    group: str | None
    value: SeriesValue


@dataclass(frozen=True, slots=True)
class MixShare:
    """A model's share of non-fallback attempts, against the share the reference expects."""

    model: str
    share: float
    expected_share: float


@dataclass(frozen=True, slots=True)
class Drift:
    """A project's model mix against its reference (PSI) and its band conformance."""

    project: str
    psi: float | None
    status: str | None  # "stable", "moderate", "drifted"
    reference: str  # "expected_shares" or "trailing_7_days"
    conformance: float | None  # None without complexity bands
    nonfallback_attempts: int
    mix: tuple[MixShare, ...]


@dataclass(frozen=True, slots=True)
class DriftPoint:
    """A project's PSI and conformance in one interval."""

    time: datetime  # the interval's start, UTC
    project: str
    psi: float | None
    status: str | None
    conformance: float | None
    nonfallback_attempts: int


@dataclass(frozen=True, slots=True)
class ProjectHealth:
    """One project's health figures over a query's window, each the summary's figure for the
    query filtered to that project."""

    project: str
    requests: int
    attempts: int
    availability: float | None
    latency_ms: Latency
    error_rate: float | None
    interception_rate: float | None
    violation_rate: float | None
    escaped_violations: int  # requests with a violation found at review, not intercepted
    cost_usd: Decimal


# --- Architecture comparison (analytics.metrics.compare) ---------------------------------


@dataclass(frozen=True, slots=True)
class ModelShare:
    """A model's share of a mode's attempts."""

    model: str
    share: float


@dataclass(frozen=True, slots=True)
class MigrationTimes:
    """Traffic migration times of model incidents, in seconds (None without any)."""

    count: int
    median_s: float | None
    max_s: float | None


@dataclass(frozen=True, slots=True)
class ModeTraffic:
    requests: int
    attempts: int
    model_shares: tuple[ModelShare, ...]  # the most used first
    fallback_share: float | None  # attempts with fallback_from / attempts
    routing_latency_ms: Latency  # p50, p95


@dataclass(frozen=True, slots=True)
class ModeLatency:
    latency_ms: Latency  # of attempts: p50, p95, p99
    overhead_ms: Latency
    end_to_end_ms: Latency


@dataclass(frozen=True, slots=True)
class ModeCost:
    cost_usd: Decimal
    cost_per_1k_requests_usd: Decimal | None
    baseline_cost_usd: Decimal
    routing_savings_usd: Decimal
    routing_savings_share: float | None  # routing savings / baseline cost
    enforcement_cost_usd: Decimal
    enforcement_cost_per_1k_requests_usd: Decimal | None
    roi: float | None
    savings_multiple: float | None


@dataclass(frozen=True, slots=True)
class ModeSecurity:
    interception_rate: float | None
    violation_rate: float | None  # escaped
    detected_violation_rate: float | None
    catch_rate: float | None
    false_positive_rate: float | None
    checks_per_request: float | None
    layers_per_request: float | None  # mean distinct layers of the requests with a check


@dataclass(frozen=True, slots=True)
class ModeReliability:
    error_rate: float | None
    availability: float | None
    migration_time_s: MigrationTimes


@dataclass(frozen=True, slots=True)
class ModeObservability:
    events_per_request: float | None  # (attempts + checks) / requests


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """One figure of the article's section 5 for a mode: a range, or a single value
    (`low == high`), in the figure's own unit (ms, s, or a fraction)."""

    figure: str
    low: float
    high: float

    @property
    def single(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True, slots=True)
class FigurePosition:
    """Where a measured figure lies against its reference: `below`, `within` or `above`
    (None when the figure has no value in the window)."""

    figure: str
    value: float | None
    position: str | None


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One mode's figures, each the summary's (or its inputs') with `mode=` that mode, the
    article's reference for the mode, and where each comparable figure lies against it.
    Maintainability is the rollouts `/rollouts?mode=` lists for the mode, in brief (None when
    the comparison was read without them, as advice reads it)."""

    mode: str  # routing_first, enforcement_first, hybrid or unknown
    traffic: ModeTraffic
    latency: ModeLatency
    cost: ModeCost
    security: ModeSecurity
    reliability: ModeReliability
    observability: ModeObservability
    maintainability: RolloutsSummary | None
    reference: tuple[ReferenceRange, ...]
    position: tuple[FigurePosition, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """A row per mode with requests in the window: routing_first, enforcement_first, hybrid,
    then unknown."""

    rows: tuple[CompareRow, ...]


@dataclass(frozen=True, slots=True)
class Rollout:
    """A version of a component (the router, or `policy:<name>`) taking over from another:
    from its first event to the last event of an older version within 24 h after it (and
    before the next rollout); `events` are the component's events in that span, of which
    `mixed_version_share` carried an older version."""

    project: str
    component: str
    version: str
    from_version: str
    started_at: datetime
    ended_at: datetime
    propagation_s: float  # 0 when no older version followed
    mixed_version_share: float | None  # None when the span's raw events are gone
    events: int
    older_events: int


@dataclass(frozen=True, slots=True)
class Spread:
    """The median and the largest of some values (None when there are none)."""

    median: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class RolloutsSummary:
    """A window's rollouts in brief: how many, how long they took to propagate, and the
    share of their spans' events that carried an older version (None without rollouts)."""

    rollouts: int
    propagation_s: Spread
    mixed_version_share: float | None

"""Incidents that generated traffic can carry, and the demo's set of them.

An incident is a stretch of time in one scenario during which its requests behave differently:
a model's calls fail and fall back to another model (`Outage`), the router sends traffic away
from the model its bands name (`RouterDrift`), or a policy blocks and modifies far more than it
should (`OverInterception`); or a new version of the router or of a policy ships and spreads
over a few minutes (`Release`). `conditions_at` answers what a scenario's incidents do at one
instant; the request model of `tollgate.demo.traffic` applies it. Incidents hold absolute times, so
history, top-ups and live traffic generated at different moments agree on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Outage:
    """`model`'s calls fail from `start` to `end` and each failed request is retried on
    `fallback`; during the first `migration` the fallback is itself throttled (rate-limited)
    while its capacity scales up, which is what the traffic migration time measures."""

    scenario: str
    model: str
    fallback: str
    start: datetime
    end: datetime | None
    failure_rate: float = 0.95
    migration: timedelta = timedelta(seconds=75)
    fallback_throttle_rate: float = 0.9

    def active(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True)
class RouterDrift:
    """From `start`, a share of the requests the bands give `from_model` (growing to `share`
    over `ramp`) is sent to `to_model` instead: a router whose thresholds moved."""

    scenario: str
    from_model: str
    to_model: str
    start: datetime
    ramp: timedelta
    share: float
    end: datetime | None = None

    def share_at(self, at: datetime) -> float:
        if at < self.start or (self.end is not None and at >= self.end):
            return 0.0
        progress = (at - self.start) / self.ramp if self.ramp else 1.0
        return self.share * min(progress, 1.0)


@dataclass(frozen=True)
class OverInterception:
    """From `start`, `policy` at `layer` blocks or modifies `rate` of the requests it would
    have allowed; review later overturns most of them as false positives."""

    scenario: str
    layer: str
    policy: str
    violation: str
    start: datetime
    rate: float
    false_positive_rate: float = 0.6
    end: datetime | None = None

    def active(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True)
class Release:
    """From `start`, `component` (`router`, or a policy's name) runs `version`: the share of
    requests served by it rises from 0 to 1 over `propagation`, old and new interleaved, as
    instances pick the new configuration up one by one."""

    scenario: str
    component: str
    version: str
    start: datetime
    propagation: timedelta

    def share_at(self, at: datetime) -> float:
        if at < self.start:
            return 0.0
        if not self.propagation or at >= self.start + self.propagation:
            return 1.0
        return (at - self.start) / self.propagation


ROUTER = "router"  # the component name of a router release

Incident = Outage | RouterDrift | OverInterception | Release


@dataclass(frozen=True)
class Conditions:
    """What a scenario's incidents do to a request made at one instant."""

    outage: Outage | None = None
    migrating: bool = False  # within the outage's first `migration`: fallbacks throttled
    drift: RouterDrift | None = None
    drift_share: float = 0.0
    interception: OverInterception | None = None
    releases: tuple[tuple[Release, float], ...] = ()  # each started one, with its share

    def version(self, component: str, current: str, rng_roll: float) -> str:
        """The version of `component` serving a request whose roll is `rng_roll` (0..1):
        the latest started release whose share covers the roll, else `current`."""
        for release, share in reversed(self.releases):
            if release.component == component and rng_roll < share:
                return release.version
        return current


def conditions_at(incidents: Iterable[Incident], scenario: str, at: datetime) -> Conditions | None:
    """The incidents of `scenario` active at `at`, or None when none is."""
    outage = drift = interception = None
    drift_share = 0.0
    releases: list[tuple[Release, float]] = []
    for incident in incidents:
        if incident.scenario != scenario:
            continue
        if isinstance(incident, Outage) and incident.active(at):
            outage = incident
        elif isinstance(incident, RouterDrift) and (share := incident.share_at(at)) > 0:
            drift, drift_share = incident, share
        elif isinstance(incident, OverInterception) and incident.active(at):
            interception = incident
        elif isinstance(incident, Release) and (share := incident.share_at(at)) > 0:
            releases.append((incident, share))
    if outage is None and drift is None and interception is None and not releases:
        return None
    migrating = outage is not None and at < outage.start + outage.migration
    return Conditions(
        outage=outage,
        migrating=migrating,
        drift=drift,
        drift_share=drift_share,
        interception=interception,
        releases=tuple(sorted(releases, key=lambda item: item[0].start)),
    )


def demo_incidents(anchor: datetime) -> tuple[Incident, ...]:
    """The demo's incidents, placed around `anchor` (the end of its first week of traffic):

    - customer service: gpt-5.4 fails for 85 minutes, ending 15 minutes after the anchor, and
      its requests fall back to claude-opus-4.6 (a `model_failure` alert that resolves with a
      migration time while the demo runs);
    - research assistant: the router drifts over two hours towards claude-opus-4.6 and stays
      there (`routing_drift`); the dearer model also puts its monthly budget on course to
      overrun;
    - content platform: a new output-safety policy blocks or modifies 6% more requests from
      five hours before the anchor on (`over_interception`);
    - customer service ships router `router-2026.12.1` two days and three hours before the
      anchor, picked up by the router's instances over ten minutes (a rollout: at the
      history's pace a shorter spread leaves only a handful of old answers to see);
    - research assistant updates its LLM judge's prompt to `judge-prompt-8` three days and five
      hours before the anchor, spread over six minutes (a policy rollout).

    Financial trading and medical assistant run clean, so their alerts stay quiet.
    """
    anchor = anchor.replace(second=0, microsecond=0)
    return (
        Outage(
            scenario="customer_service",
            model="gpt-5.4",
            fallback="claude-opus-4.6",
            start=anchor - timedelta(minutes=70),
            end=anchor + timedelta(minutes=15),
        ),
        RouterDrift(
            scenario="research_assistant",
            from_model="gpt-5.4",
            to_model="claude-opus-4.6",
            start=anchor - timedelta(hours=4),
            ramp=timedelta(hours=2),
            share=0.6,
        ),
        OverInterception(
            scenario="content_platform",
            layer="verification",
            policy="output_safety_v2",
            violation="nsfw_image",
            start=anchor - timedelta(hours=5),
            rate=0.06,
        ),
        Release(
            scenario="customer_service",
            component=ROUTER,
            version="router-2026.12.1",
            start=anchor - timedelta(days=2, hours=3),
            propagation=timedelta(minutes=10),
        ),
        Release(
            scenario="research_assistant",
            component="llm_judge_v1",
            version="judge-prompt-8",
            start=anchor - timedelta(days=3, hours=5),
            propagation=timedelta(minutes=6),
        ),
    )

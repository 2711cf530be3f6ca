"""When generated requests happen: the scenarios' traffic laid out minute by minute.

Each scenario makes requests at its own hourly rate, higher in the (UTC) afternoon than at
night. Every minute of every scenario draws from its own random generator, seeded with the
plan's seed, the scenario and the minute, so any stretch of time yields the same events however
it is cut up: a week posted at once, a gap topped up later and a replay all agree, and posting
a minute twice only makes duplicates.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from tollgate.demo.incidents import Incident, conditions_at
from tollgate.demo.traffic import SCENARIOS, Event, request_events

MINUTE = timedelta(minutes=1)
DIURNAL_SWING = 0.4  # the busiest hour sees 1.4x the mean rate, the quietest 0.6x
BUSIEST_HOUR_UTC = 15


@dataclass(frozen=True)
class TrafficPlan:
    """Which scenarios make traffic, with which incidents, how densely, from which seed."""

    scenarios: tuple[str, ...]
    seed: str = "tollgate"
    incidents: tuple[Incident, ...] = ()
    scale: float = 1.0  # times each scenario's own hourly rate

    def __post_init__(self) -> None:
        unknown = [key for key in self.scenarios if key not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenarios: {', '.join(unknown)}")
        if self.scale <= 0:
            raise ValueError("scale must be above 0")

    def requests_per_hour(self) -> float:
        """The plan's mean number of requests an hour, all its scenarios together."""
        return self.scale * sum(SCENARIOS[key].requests_per_hour for key in self.scenarios)

    def at_rate(self, requests_per_second: float) -> TrafficPlan:
        """The same plan scaled to `requests_per_second` on average, across its scenarios."""
        base = sum(SCENARIOS[key].requests_per_hour for key in self.scenarios)
        return TrafficPlan(
            scenarios=self.scenarios,
            seed=self.seed,
            incidents=self.incidents,
            scale=requests_per_second * 3600 / base,
        )


def minute_floor(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def minutes(start: datetime, end: datetime) -> Iterator[datetime]:
    """The minutes starting in `[start, end)`, `start` taken down to its minute."""
    minute = minute_floor(start)
    while minute < end:
        yield minute
        minute += MINUTE


def diurnal_factor(at: datetime) -> float:
    """How busy the time of day is against the daily mean (1.0)."""
    hour = at.hour + at.minute / 60
    return 1 + DIURNAL_SWING * math.cos(2 * math.pi * (hour - BUSIEST_HOUR_UTC) / 24)


def minute_requests(
    plan: TrafficPlan, scenario: str, minute: datetime, *, end: datetime | None = None
) -> list[list[Event]]:
    """The requests `scenario` makes in `minute`, each as its list of events in time order.

    With an `end`, no event lies past it (late reviews are held back to it).
    """
    rng = _minute_rng(plan, scenario, minute)
    count = _poisson(_mean_requests(plan, scenario, minute), rng)
    offsets = sorted(rng.uniform(0, 60) for _ in range(count))
    requests = []
    for offset in offsets:
        at = minute + timedelta(seconds=offset)
        conditions = conditions_at(plan.incidents, scenario, at)
        requests.append(
            request_events(SCENARIOS[scenario], at=at, rng=rng, end=end, conditions=conditions)
        )
    return requests


def requests_count(plan: TrafficPlan, start: datetime, end: datetime) -> int:
    """How many requests the plan makes in `[start, end)` (counts only: cheap)."""
    total = 0
    for scenario in plan.scenarios:
        for minute in minutes(start, end):
            rng = _minute_rng(plan, scenario, minute)
            total += _poisson(_mean_requests(plan, scenario, minute), rng)
    return total


def _minute_rng(plan: TrafficPlan, scenario: str, minute: datetime) -> random.Random:
    return random.Random(f"{plan.seed}:{scenario}:{minute:%Y-%m-%dT%H:%M}")  # noqa: S311 (not secrets)


def _mean_requests(plan: TrafficPlan, scenario: str, minute: datetime) -> float:
    per_minute = SCENARIOS[scenario].requests_per_hour / 60
    return plan.scale * per_minute * diurnal_factor(minute)


def _poisson(mean: float, rng: random.Random) -> int:
    """A Poisson draw: multiplied uniforms for small means, a rounded normal for large ones."""
    if mean > 500:  # exp(-mean) would underflow; the normal is exact enough there
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count

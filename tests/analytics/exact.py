"""Exact metrics computed straight from the events a test posted, written independently of
analytics (plain Python over dicts), to check the rollups against."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

Q8 = Decimal("0.00000001")
PRE_DELIVERY = {"preprocess", "routing", "execution", "verification"}


@dataclass
class PriceRow:
    model: str
    since: datetime
    input: Decimal
    output: Decimal


def price_for(prices: list[PriceRow], model: str, when: datetime) -> PriceRow | None:
    rows = [row for row in prices if row.model == model and row.since <= when]
    return max(rows, key=lambda row: row.since) if rows else None


def priced(
    prices: list[PriceRow], event: dict[str, Any], model: str | None = None
) -> Decimal | None:
    row = price_for(prices, model or event["model"], datetime.fromisoformat(event["timestamp"]))
    if row is None:
        return None
    cache_read, cache_write = event.get("cache_read_tokens", 0), event.get("cache_write_tokens", 0)
    uncached = event["input_tokens"] - cache_read - cache_write
    dollars = (uncached + cache_read + cache_write) * row.input + event[
        "output_tokens"
    ] * row.output
    return (dollars / 1000).quantize(Q8)


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def request_mode(events: list[dict[str, Any]]) -> str:
    """DESIGN.md's mode of a request: its first attempt's, else that of its first check that
    carries one, else "" (unknown). Ties in time go to the event listed first."""
    ordered = sorted(events, key=lambda event: datetime.fromisoformat(event["timestamp"]))
    for event in ordered:
        if event["type"] == "routing":
            return str(event["mode"])
    return next((str(e["mode"]) for e in ordered if e.get("mode") is not None), "")


def exact_summary(
    events: list[dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    prices: list[PriceRow],
    baseline_model: str,
    interception_cost: Decimal,
    correction_cost: Decimal,
    check_cost: Decimal = Decimal(0),
    mode: str | None = None,
) -> dict[str, Any]:
    """The summary's figures; with `mode`, of the requests of that mode (DESIGN.md's
    request mode) and the attempts that carry it ("unknown": requests with no mode). The
    checks' own cost is that of the window's requests' checks, as their interceptions are."""

    def when(event: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(event["timestamp"])

    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_request[event["request_id"]].append(event)
    requests = {rid: evs for rid, evs in by_request.items() if start <= min(map(when, evs)) < end}
    attempts = [e for e in events if e["type"] == "routing" and start <= when(e) < end]
    if mode is not None:
        wanted = "" if mode == "unknown" else mode
        requests = {rid: evs for rid, evs in requests.items() if request_mode(evs) == wanted}
        attempts = [e for e in attempts if e["mode"] == mode]

    def cost(event: dict[str, Any]) -> Decimal | None:
        if event.get("cost_usd") is not None:
            return Decimal(str(event["cost_usd"])).quantize(Q8)
        return priced(prices, event)

    costs = [cost(e) for e in attempts]
    baseline = actual = Decimal(0)
    for event, value in zip(attempts, costs, strict=True):
        if value is None:
            continue
        base = priced(prices, event, baseline_model)
        if base is not None:
            baseline += base
            actual += value

    def flags(evs: list[dict[str, Any]]) -> dict[str, bool | float | None]:
        checks = [e for e in evs if e["type"] == "enforcement"]
        pre = [e for e in checks if e["layer"] in PRE_DELIVERY]
        review = [e for e in checks if e["layer"] == "review"]
        return {
            "attempted": any(e["type"] == "routing" for e in evs),
            "served": any(e["type"] == "routing" and e["status"] == "ok" for e in evs),
            "intercepted": any(e["verdict"] in ("block", "modify") for e in pre),
            "blocked": any(e["verdict"] == "block" for e in pre),
            "modified": any(e["verdict"] == "modify" for e in pre),
            "detected": any(e.get("violation") for e in checks),
            "caught": any(e["verdict"] in ("block", "modify") and e.get("violation") for e in pre),
            "escaped": any(e.get("violation") and not e.get("false_positive") for e in review),
            "false_positive": any(e.get("false_positive") for e in review),
            "overhead": sum(e["check_latency_ms"] for e in checks) if checks else None,
            "end_to_end": end_to_end(evs),
        }

    per_request = [flags(evs) for evs in requests.values()]
    count = lambda key: sum(1 for f in per_request if f[key])  # noqa: E731
    requests_checks = [e for evs in requests.values() for e in evs if e["type"] == "enforcement"]
    enforcement_cost = (
        count("intercepted") * interception_cost
        + count("modified") * correction_cost
        + sum((own_check_cost(e, check_cost) for e in requests_checks), Decimal(0))
    )
    return {
        "requests": len(requests),
        "attempts": len(attempts),
        "errors": sum(1 for e in attempts if e["status"] != "ok"),
        "served": count("served"),
        "attempted": count("attempted"),
        "latencies": [e["latency_ms"] for e in attempts],
        "routing_latencies": [
            e["routing_latency_ms"] for e in attempts if e.get("routing_latency_ms") is not None
        ],
        "overheads": [f["overhead"] for f in per_request if f["overhead"] is not None],
        "end_to_end": [f["end_to_end"] for f in per_request if f["end_to_end"] is not None],
        "cost": sum((c for c in costs if c is not None), Decimal(0)),
        "unpriced": sum(1 for c in costs if c is None),
        "input_tokens": sum(e["input_tokens"] for e in attempts),
        "output_tokens": sum(e["output_tokens"] for e in attempts),
        "intercepted": count("intercepted"),
        "blocked": count("blocked"),
        "modified": count("modified"),
        "detected": count("detected"),
        "caught": count("caught"),
        "escaped": count("escaped"),
        "false_positive": count("false_positive"),
        "baseline": baseline,
        "savings": baseline - actual,
        "enforcement_cost": enforcement_cost,
        # The checks of the window's requests, and the distinct layers of each that had any.
        "checks": len(requests_checks),
        "with_checks": sum(1 for f in per_request if f["overhead"] is not None),
        "layers_seen": sum(
            len({e["layer"] for e in evs if e["type"] == "enforcement"})
            for evs in requests.values()
        ),
    }


def end_to_end(events: list[dict[str, Any]]) -> float | None:
    """A request's end-to-end latency: its attempts' routing_latency_ms (0 when absent) +
    latency_ms, plus its checks' check_latency_ms; None when it has no attempt."""
    attempts = [e for e in events if e["type"] == "routing"]
    if not attempts:
        return None
    calls = sum((e.get("routing_latency_ms") or 0) + e["latency_ms"] for e in attempts)
    return float(calls + sum(e["check_latency_ms"] for e in events if e["type"] == "enforcement"))


def own_check_cost(event: dict[str, Any], check_cost: Decimal) -> Decimal:
    """A check's own cost: what it reported, else the project's check cost."""
    if event.get("cost_usd") is not None:
        return Decimal(str(event["cost_usd"])).quantize(Q8)
    return check_cost


def exact_policies(
    events: list[dict[str, Any]], *, start: datetime, end: datetime, check_cost: Decimal
) -> dict[str, dict[str, Any]]:
    """Per policy, over the enforcement events in [start, end) that name it: the layer it
    checks at most (review only when it has no other), and over its events at its own layers
    (all of them for a review policy) checks, blocks, modifies, flags, check latencies and
    their own cost; false positives are the reviews naming it marked false_positive."""
    named: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        when = datetime.fromisoformat(event["timestamp"])
        if event["type"] == "enforcement" and start <= when < end:
            named[event["policy"]].append(event)
    order = ["preprocess", "routing", "execution", "verification", "review"]
    policies: dict[str, dict[str, Any]] = {}
    for policy, found in named.items():
        layers: dict[str, int] = defaultdict(int)
        for event in found:
            layers[event["layer"]] += 1
        own_layers = {k: v for k, v in layers.items() if k != "review"} or layers
        own = [event for event in found if event["layer"] != "review"] or found
        policies[policy] = {
            "layer": min(own_layers, key=lambda layer: (-own_layers[layer], order.index(layer))),
            "checks": len(own),
            "blocks": sum(event["verdict"] == "block" for event in own),
            "modifies": sum(event["verdict"] == "modify" for event in own),
            "flags": sum(event["verdict"] == "flag" for event in own),
            "false_positives": sum(
                event["layer"] == "review" and bool(event.get("false_positive")) for event in found
            ),
            "latencies": [event["check_latency_ms"] for event in own],
            "layers": layers,
            "cost": sum((own_check_cost(event, check_cost) for event in own), Decimal(0)),
        }
    return policies

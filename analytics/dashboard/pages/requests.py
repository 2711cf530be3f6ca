"""One request: its attempts and checks in one timeline, read through ingestion.selectors, and
the request id the header's search box asks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from analytics.dashboard.formatting import count, ms
from analytics.formatting import NA, usd
from ingestion.selectors import (
    REQUEST_ID_MAX_LENGTH,
    RequestAttempt,
    RequestCheck,
    RequestTrace,
    request_traces,
)


class BadRequestId(ValueError):
    """A searched request id that cannot be one (too long); names the field."""

    field = "request_id"


def searched_request_id(params: Mapping[str, str]) -> str:
    """The id the search box sent, without surrounding whitespace ("" for none);
    BadRequestId when it is longer than any stored id."""
    request_id = params.get("request_id", "").strip()
    if len(request_id) > REQUEST_ID_MAX_LENGTH:
        raise BadRequestId(
            f"request_id: a request id has at most {REQUEST_ID_MAX_LENGTH} characters "
            f"(this one has {len(request_id)})"
        )
    return request_id


@dataclass(frozen=True)
class Step:
    """One line of the timeline: an attempt or a check, as people read it."""

    kind: str  # "attempt" or "check"
    event_id: str
    at: datetime
    time: str  # to the millisecond; the date is the page's
    offset: str  # since the request's first event
    what: str
    outcome: str  # status or verdict; also the badge's class
    latency: str
    cost: str
    cost_value: Decimal | None
    detail: str
    after_attempt: bool  # a check later than the request's last attempt
    arrived_later: bool  # a check received after the last attempt was


def _attempt_step(attempt: RequestAttempt, start: datetime) -> Step:
    detail = [f"{count(attempt.input_tokens)} in / {count(attempt.output_tokens)} out tokens"]
    if attempt.fallback_from:
        detail.append(f"fallback from {attempt.fallback_from}")
    if attempt.error_type:
        detail.append(attempt.error_type)
    if attempt.reported_cost_usd is None and attempt.priced_cost_usd is not None:
        detail.append("cost priced from the price list")
    return Step(
        kind="attempt",
        event_id=str(attempt.event_id),
        at=attempt.timestamp,
        time=_time(attempt.timestamp),
        offset=_offset(attempt.timestamp, start),
        what=f"{attempt.model} ({attempt.provider})" if attempt.provider else attempt.model,
        outcome=attempt.status,
        latency=ms(attempt.latency_ms),
        cost=usd(attempt.cost_usd),
        cost_value=attempt.cost_usd,
        detail="; ".join(detail),
        after_attempt=False,
        arrived_later=False,
    )


def _check_step(check: RequestCheck, start: datetime, last: RequestAttempt | None) -> Step:
    detail = []
    if check.violation:
        detail.append(f"{check.violation} ({check.severity or 'no severity'})")
    if check.false_positive:
        detail.append("marked a false positive")
    return Step(
        kind="check",
        event_id=str(check.event_id),
        at=check.timestamp,
        time=_time(check.timestamp),
        offset=_offset(check.timestamp, start),
        what=f"{check.layer} · {check.policy}",
        outcome=check.verdict,
        latency=ms(check.check_latency_ms),
        cost=NA,
        cost_value=None,
        detail="; ".join(detail),
        after_attempt=last is not None and check.timestamp > last.timestamp,
        arrived_later=last is not None and check.received_at > last.received_at,
    )


def _time(at: datetime) -> str:
    return f"{at:%H:%M:%S}.{at.microsecond // 1000:03d}"


def _offset(at: datetime, start: datetime) -> str:
    return f"+{ms((at - start).total_seconds() * 1000)}"


def timeline(trace: RequestTrace) -> list[Step]:
    """The request's attempts and checks in one list, in time order (ties in ingest order)."""
    events: list[RequestAttempt | RequestCheck] = [*trace.attempts, *trace.checks]
    start = min(event.timestamp for event in events)
    last = trace.attempts[-1] if trace.attempts else None
    ordered: list[tuple[tuple[datetime, int], Step]] = [
        ((attempt.timestamp, attempt.seq), _attempt_step(attempt, start))
        for attempt in trace.attempts
    ]
    ordered += [
        ((check.timestamp, check.seq), _check_step(check, start, last)) for check in trace.checks
    ]
    return [step for _, step in sorted(ordered, key=lambda pair: pair[0])]


def request_context(
    *, organization_id: int, request_id: str, project: str | None
) -> dict[str, Any] | None:
    """The request page's context; None when the organization has no such request (in the
    named project, when one is named). An id in several projects and none named gives the
    projects to choose from instead of a timeline."""
    traces = request_traces(request_id=request_id, organization_id=organization_id)
    if project is not None:
        traces = [trace for trace in traces if trace.project == project]
    if not traces:
        return None
    if len(traces) > 1:
        return {"request_id": request_id, "choices": [trace.project for trace in traces]}
    trace = traces[0]
    steps = timeline(trace)  # never empty: a trace is found by one of its events
    costs = [attempt.cost_usd for attempt in trace.attempts if attempt.cost_usd is not None]
    return {
        "request_id": request_id,
        "trace": trace,
        "steps": steps,
        "started": steps[0].at,
        "total_cost": usd(sum(costs, Decimal(0))) if costs else NA,
        "final_status": trace.attempts[-1].status if trace.attempts else None,
        "blocked": any(check.verdict == "block" for check in trace.checks),
    }

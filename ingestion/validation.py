"""Validate a batch of plain event dicts into rows ready for the raw tables.

Every event is checked on its own: a bad event is named in the errors (index, event_id, field,
message) and the rest of the batch goes on. Routing events are priced here, at the price in force
at their timestamp, and get a complexity score when they do not report one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from governance.pricing import PriceBook, complexity_score, cost_usd
from ingestion.partitions import month_start
from ingestion.schema import FIELDS_BY_TYPE, Invalid, event_uuid, fields_with_default_mode, rfc3339


@dataclass(frozen=True, slots=True)
class FieldError:
    index: int
    event_id: str | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class IngestContext:
    """What validation needs to know about the project and the moment of ingest."""

    project_id: int
    service_id: int
    now: datetime
    retention_days: int
    future_skew_s: int
    token_scale: int
    tool_scale: int
    price_book: PriceBook
    # The mode of routing events that carry none (OTLP spans: the project's `default_mode`);
    # None, as for the JSON ingest API, makes `mode` required.
    default_mode: str | None = None
    fields_by_type: dict[str, Any] = field(init=False)
    oldest_allowed: datetime = field(init=False)
    newest_allowed: datetime = field(init=False)
    too_old_message: str = field(init=False)
    too_new_message: str = field(init=False)

    def __post_init__(self) -> None:
        # Computed once per batch, not once per event.
        bounds = {
            "oldest_allowed": self.now - timedelta(days=self.retention_days),
            "newest_allowed": self.now + timedelta(seconds=self.future_skew_s),
            "too_old_message": f"is older than the {self.retention_days}-day retention window",
            "too_new_message": f"is more than {self.future_skew_s} seconds in the future",
            "fields_by_type": (
                FIELDS_BY_TYPE
                if self.default_mode is None
                else fields_with_default_mode(self.default_mode)
            ),
        }
        for name, value in bounds.items():
            object.__setattr__(self, name, value)


# The raw tables' unique key within a project: (event_id, timestamp), because a partitioned
# table's unique key must hold its partition key. A retry resends both unchanged.
DedupKey = tuple[str, datetime]


@dataclass
class ValidatedBatch:
    """The batch split into rows per table, in-batch duplicates and errors."""

    routing: dict[DedupKey, tuple[Any, ...]] = field(default_factory=dict)
    enforcement: dict[DedupKey, tuple[Any, ...]] = field(default_factory=dict)
    in_batch_duplicates: int = 0
    errors: list[FieldError] = field(default_factory=list)
    rejected: int = 0

    def months(self) -> set[date]:
        """The calendar months (UTC) the valid events fall in: the partitions they need."""
        return {
            month_start(row[TIMESTAMP_INDEX])
            for rows in (self.routing, self.enforcement)
            for row in rows.values()
        }


# Column order of the rows handed to the writer.
COMMON_COLUMNS = (
    "project_id",
    "service_id",
    "event_id",
    "timestamp",
    "request_id",
    "environment",
    "attributes",
)
EVENT_ID_INDEX = COMMON_COLUMNS.index("event_id")
TIMESTAMP_INDEX = COMMON_COLUMNS.index("timestamp")
ROUTING_COLUMNS = (
    *COMMON_COLUMNS,
    "model", "provider", "mode", "user_tier", "input_tokens", "output_tokens", "tool_calls",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "complexity_score",
    "complexity_computed", "latency_ms", "routing_latency_ms", "status", "error_type",
    "fallback_from", "route_reason", "reported_cost_usd", "priced_cost_usd", "price_id",
    "router_version",
)  # fmt: skip
ENFORCEMENT_COLUMNS = (
    *COMMON_COLUMNS,
    "layer", "policy", "verdict", "violation", "severity", "false_positive", "check_latency_ms",
    "cost_usd", "mode", "policy_version",
)  # fmt: skip


def batch_validate(events: list[Any], context: IngestContext) -> ValidatedBatch:
    """Check every event of a batch; keep the first copy of an event seen twice."""
    batch = ValidatedBatch()
    for index, raw in enumerate(events):
        outcome = event_validate(index, raw, context)
        if isinstance(outcome, list):
            batch.errors.extend(outcome)
            batch.rejected += 1
            continue
        kind, row = outcome
        key = (row[EVENT_ID_INDEX], row[TIMESTAMP_INDEX])
        rows = batch.routing if kind == "routing" else batch.enforcement
        if key in rows:
            batch.in_batch_duplicates += 1
        else:
            rows[key] = row
    return batch


def event_validate(
    index: int, raw: Any, context: IngestContext
) -> list[FieldError] | tuple[str, tuple[Any, ...]]:
    """Validate one event: its errors, or its kind and row."""
    if type(raw) is not dict:
        return [FieldError(index, None, "event", "must be a JSON object")]
    raw_id = raw.get("event_id")
    shown_id = raw_id if type(raw_id) is str else None
    problems: list[tuple[str, str]] = []  # (field, message); turned into errors at the end

    kind = raw.get("type")
    fields = context.fields_by_type.get(kind) if type(kind) is str else None
    if fields is None:
        problems.append(("type", "must be one of routing, enforcement"))

    event_id, timestamp = _identity(raw, raw_id, context, problems)
    values = _field_values(raw, fields or (), problems)
    if problems or timestamp is None:  # no timestamp is always one of the problems
        return [FieldError(index, shown_id, name, message) for name, message in problems]

    head = (
        context.project_id,
        context.service_id,
        event_id,
        timestamp,
        values["request_id"],
        values["environment"],
        values["attributes"],
    )
    if kind == "routing":
        return _routing_row(index, shown_id, head, values, timestamp, context)
    row = (
        *head,
        values["layer"],
        values["policy"],
        values["verdict"],
        values["violation"],
        values["severity"],
        values["false_positive"],
        values["check_latency_ms"],
        values["cost_usd"],
        values["mode"],
        values["policy_version"],
    )
    return "enforcement", row


def _identity(
    raw: dict[str, Any], raw_id: Any, context: IngestContext, problems: list[tuple[str, str]]
) -> tuple[Any, datetime | None]:
    """The event's id and timestamp, each None when invalid (the problem is appended)."""
    event_id = timestamp = None
    if raw_id is None:
        problems.append(("event_id", "is required"))
    else:
        try:
            event_id = event_uuid(raw_id)
        except Invalid as exc:
            problems.append(("event_id", str(exc)))
    raw_ts = raw.get("timestamp")
    if raw_ts is None:
        problems.append(("timestamp", "is required"))
    else:
        try:
            # JSON gives text; a decoder that read a time itself (OTLP's nanoseconds) gives an
            # aware datetime, which JSON never can.
            timestamp = raw_ts if type(raw_ts) is datetime else rfc3339(raw_ts)
        except Invalid as exc:
            problems.append(("timestamp", str(exc)))
        else:
            if timestamp > context.newest_allowed:
                problems.append(("timestamp", context.too_new_message))
            elif timestamp < context.oldest_allowed:
                problems.append(("timestamp", context.too_old_message))
    return event_id, timestamp


def _field_values(
    raw: dict[str, Any], fields: Any, problems: list[tuple[str, str]]
) -> dict[str, Any]:
    """The type's fields, checked, with defaults for those absent (problems are appended)."""
    values: dict[str, Any] = {}
    for name, required, check, default in fields:
        value = raw.get(name)
        if value is None:
            if required:
                problems.append((name, "is required"))
            values[name] = default
        else:
            try:
                values[name] = check(value)
            except Invalid as exc:
                problems.append((name, str(exc)))
    return values


def _routing_row(
    index: int,
    shown_id: str | None,
    head: tuple[Any, ...],
    values: dict[str, Any],
    timestamp: datetime,
    context: IngestContext,
) -> list[FieldError] | tuple[str, tuple[Any, ...]]:
    input_tokens, output_tokens = values["input_tokens"], values["output_tokens"]
    cache_read, cache_write = values["cache_read_tokens"], values["cache_write_tokens"]
    if cache_read + cache_write > input_tokens:
        message = "cache_read_tokens + cache_write_tokens must not exceed input_tokens"
        return [FieldError(index, shown_id, "cache_read_tokens", message)]
    if values["reasoning_tokens"] > output_tokens:
        message = "must not exceed output_tokens"
        return [FieldError(index, shown_id, "reasoning_tokens", message)]

    model = values["model"]
    entry = context.price_book.entry(model)
    price, priced = _priced(entry, timestamp, values)
    score = values["complexity_score"]
    computed = score is None
    if computed:
        score = complexity_score(
            input_tokens=input_tokens,
            tool_calls=values["tool_calls"],
            user_tier=values["user_tier"],
            token_scale=context.token_scale,
            tool_scale=context.tool_scale,
        )
    provider = values["provider"] or (entry.provider if entry is not None else "")
    row = (
        *head,
        model,
        provider,
        values["mode"],
        values["user_tier"],
        input_tokens,
        output_tokens,
        values["tool_calls"],
        cache_read,
        cache_write,
        values["reasoning_tokens"],
        score,
        computed,
        values["latency_ms"],
        values["routing_latency_ms"],
        values["status"],
        values["error_type"] or "",
        values["fallback_from"] or "",
        values["route_reason"] or "",
        values["cost_usd"],
        priced,
        price.id if price is not None else None,
        values["router_version"],
    )
    return "routing", row


def _priced(entry: Any, timestamp: datetime, values: dict[str, Any]) -> tuple[Any, Any]:
    """The matrix price in force at the attempt's time and its cost, or (None, None)."""
    price = entry.price_at(timestamp) if entry is not None else None
    if price is None:
        return None, None
    return price, cost_usd(
        price=price,
        input_tokens=values["input_tokens"],
        output_tokens=values["output_tokens"],
        cache_read_tokens=values["cache_read_tokens"],
        cache_write_tokens=values["cache_write_tokens"],
    )

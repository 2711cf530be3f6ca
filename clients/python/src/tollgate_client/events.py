"""Event schema v1 on the client side: build a routing or enforcement event from typed fields.

The checks mirror the server's (ingestion/schema.py in Tollgate) so a bad value fails in the
caller with a `ValueError` naming the field, instead of being rejected later, out of sight, in a
207 answer. They are plain comparisons, not a validation library: `Client.routing()` runs them on
the caller's thread and must cost it only microseconds.

The timestamp is kept as epoch seconds (a float) until the sender serializes the batch, so the
caller does not pay for date formatting; the sender turns it into RFC 3339 once, before the first
attempt, and every retry resends the same text.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Union

Event = dict[str, Any]
Timestamp = Union[datetime, str, float, int, None]
Money = Union[Decimal, str, int, float, None]

MODES = ("routing_first", "enforcement_first", "hybrid")
USER_TIERS = ("standard", "advanced", "vip")
STATUSES = ("ok", "error", "timeout", "rate_limited")
LAYERS = ("preprocess", "routing", "execution", "verification", "review")
VERDICTS = ("allow", "block", "modify", "flag")
SEVERITIES = ("low", "medium", "high", "critical")

MAX_INT = 2**31 - 1
MAX_NUMBER = 1e12
MAX_MONEY = Decimal("1000000000")
MAX_ATTRIBUTES_BYTES = 8 * 1024

_MODES = frozenset(MODES)
_USER_TIERS = frozenset(USER_TIERS)
_STATUSES = frozenset(STATUSES)
_LAYERS = frozenset(LAYERS)
_VERDICTS = frozenset(VERDICTS)
_SEVERITIES = frozenset(SEVERITIES)
_UTC = timezone.utc
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


# UUIDv4 bits: version 4 in the 13th hex digit, the RFC 4122 variant in the 17th.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
_IDS_PER_DRAW = 256
_ids: list[str] = []  # random ids drawn ahead; emptied in a forked child (see below)


def new_event_id() -> str:
    """A random UUIDv4 as text. One urandom read serves 256 ids: uuid.uuid4() costs a system
    call and an object per id, a third of what routing() would otherwise cost."""
    try:
        return _ids.pop()  # list.pop is atomic: threads never get the same id
    except IndexError:
        raw = os.urandom(16 * _IDS_PER_DRAW)
        drawn = []
        for start in range(0, len(raw), 16):
            value = int.from_bytes(raw[start : start + 16], "big") & _UUID4_CLEAR | _UUID4_SET
            digits = f"{value:032x}"
            drawn.append(
                f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
            )
        _ids.extend(drawn)
        return _ids.pop()


if hasattr(os, "register_at_fork"):  # a child must not hand out the ids its parent will
    os.register_at_fork(after_in_child=_ids.clear)


def _fail(field: str, message: str) -> ValueError:
    return ValueError(f"{field}: {message}")


def _text(field: str, value: Any, max_length: int) -> str:
    if type(value) is not str:
        raise _fail(field, "must be a string")
    if not 0 < len(value) <= max_length:
        raise _fail(field, f"must be 1 to {max_length} characters long")
    if "\x00" in value:
        raise _fail(field, "must not contain NUL characters")
    return value


def _choice(field: str, value: Any, allowed: frozenset[str], shown: tuple[str, ...]) -> str:
    if type(value) is not str or value not in allowed:
        raise _fail(field, "must be one of " + ", ".join(shown))
    return value


def _count(field: str, value: Any) -> int:
    if type(value) is not int:
        # bool is an int subclass; a numpy integer is not an int but says what it is
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise _fail(field, "must be a whole number")
        value = value.__index__()
    if not 0 <= value <= MAX_INT:
        raise _fail(field, f"must be between 0 and {MAX_INT}")
    checked: int = value
    return checked


def _number(field: str, value: Any, maximum: float = MAX_NUMBER) -> float:
    kind = type(value)
    if kind is not float and kind is not int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(field, "must be a number")
        value = float(value)
    if not 0 <= value <= maximum:  # NaN and infinities fail it too
        raise _fail(field, f"must be between 0 and {maximum:g}")
    checked: float = value
    return checked


def _money(field: str, value: Any) -> str | float | int:
    """A non-negative amount; Decimal and str travel as decimal text, floats as JSON numbers."""
    kind = type(value)
    if kind is float or kind is int:
        if not 0 <= value <= MAX_MONEY:  # NaN and infinities fail it too
            raise _fail(field, f"must be between 0 and {MAX_MONEY}")
        number: float = value
        return number
    if kind is Decimal or kind is str:
        text = str(value).strip()
        if _DECIMAL.fullmatch(text) is None:
            raise _fail(field, 'must be a non-negative decimal number, e.g. "0.0125"')
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise _fail(field, "must be a decimal number") from None
        if not amount.is_finite() or amount > MAX_MONEY:
            raise _fail(field, f"must be between 0 and {MAX_MONEY}")
        return text
    raise _fail(field, "must be a decimal number (Decimal, str, int or float)")


def _boolean(field: str, value: Any) -> bool:
    if type(value) is not bool:
        raise _fail(field, "must be True or False")
    return value


def _attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("attributes", "must be a dict")
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail("attributes", f"must be JSON-serializable ({exc})") from None
    if len(encoded.encode()) > MAX_ATTRIBUTES_BYTES:
        raise _fail("attributes", f"must be at most {MAX_ATTRIBUTES_BYTES} bytes serialized")
    if "\\u0000" in encoded:
        raise _fail("attributes", "must not contain NUL characters")
    return value


def _event_id(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if type(value) is not str or _UUID.fullmatch(value.lower()) is None:
        raise _fail("event_id", "must be a UUID (8-4-4-4-12 hex digits)")
    return value.lower()


def _timestamp(value: Timestamp, now: float) -> float | str:
    """Epoch seconds, kept as a float until the batch is serialized; or RFC 3339 text."""
    if value is None:
        return now
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _fail("timestamp", "must be timezone-aware (e.g. datetime.now(timezone.utc))")
        # As text now: a float cannot hold every microsecond of today's epoch seconds.
        return value.astimezone(_UTC).isoformat(timespec="microseconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value < 1e11:  # epoch seconds; milliseconds would land in the year 5000+
            raise _fail("timestamp", "must be epoch seconds")
        return float(value)
    if isinstance(value, str) and _RFC3339.fullmatch(value) is not None:
        return value
    raise _fail("timestamp", "must be a datetime with offset, epoch seconds or RFC 3339 text")


def _common(
    event: Event,
    event_id: str | uuid.UUID | None,
    timestamp: Timestamp,
    now: float,
    environment: str | None,
    attributes: dict[str, Any] | None,
) -> None:
    event["event_id"] = new_event_id() if event_id is None else _event_id(event_id)
    event["timestamp"] = now if timestamp is None else _timestamp(timestamp, now)
    if environment is not None:
        event["environment"] = _text("environment", environment, 64)
    if attributes is not None:
        event["attributes"] = _attributes(attributes)


def routing_event(
    *,
    request_id: str,
    model: str,
    mode: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: float,
    status: str,
    now: float,
    provider: str | None = None,
    user_tier: str | None = None,
    tool_calls: int | None = None,
    complexity_score: float | None = None,
    routing_latency_ms: float | None = None,
    error_type: str | None = None,
    fallback_from: str | None = None,
    cost_usd: Money = None,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    route_reason: str | None = None,
    router_version: str | None = None,
    environment: str | None = None,
    attributes: dict[str, Any] | None = None,
    event_id: str | uuid.UUID | None = None,
    timestamp: Timestamp = None,
) -> Event:
    """A checked routing event (one model attempt); `ValueError` names the first bad field."""
    if type(status) is not str or status not in _STATUSES:
        raise _fail("status", "must be one of " + ", ".join(STATUSES))
    if type(mode) is not str or mode not in _MODES:
        raise _fail("mode", "must be one of " + ", ".join(MODES))
    event: Event = {
        "type": "routing",
        "request_id": _text("request_id", request_id, 128),
        "model": _text("model", model, 100),
        "mode": mode,
        "input_tokens": _count("input_tokens", input_tokens),
        "output_tokens": _count("output_tokens", output_tokens),
        "latency_ms": _number("latency_ms", latency_ms),
        "status": status,
    }
    _common(event, event_id, timestamp, now, environment, attributes)
    if provider is not None:
        event["provider"] = _text("provider", provider, 100)
    if user_tier is not None:
        event["user_tier"] = _choice("user_tier", user_tier, _USER_TIERS, USER_TIERS)
    if tool_calls is not None:
        event["tool_calls"] = _count("tool_calls", tool_calls)
    if complexity_score is not None:
        event["complexity_score"] = _number("complexity_score", complexity_score, 100.0)
    if routing_latency_ms is not None:
        event["routing_latency_ms"] = _number("routing_latency_ms", routing_latency_ms)
    if error_type is not None:
        event["error_type"] = _text("error_type", error_type, 200)
    if fallback_from is not None:
        event["fallback_from"] = _text("fallback_from", fallback_from, 100)
    if cost_usd is not None:
        event["cost_usd"] = _money("cost_usd", cost_usd)
    cached = 0
    if cache_read_tokens is not None:
        cached = event["cache_read_tokens"] = _count("cache_read_tokens", cache_read_tokens)
    if cache_write_tokens is not None:
        cached += _count("cache_write_tokens", cache_write_tokens)
        event["cache_write_tokens"] = cache_write_tokens
    if cached > event["input_tokens"]:
        raise _fail("cache_read_tokens", "cache_read_tokens + cache_write_tokens > input_tokens")
    if reasoning_tokens is not None:
        event["reasoning_tokens"] = _count("reasoning_tokens", reasoning_tokens)
        if reasoning_tokens > event["output_tokens"]:
            raise _fail("reasoning_tokens", "must not exceed output_tokens")
    if route_reason is not None:
        event["route_reason"] = _text("route_reason", route_reason, 64)
    if router_version is not None:
        event["router_version"] = _text("router_version", router_version, 64)
    return event


def enforcement_event(
    *,
    request_id: str,
    layer: str,
    policy: str,
    verdict: str,
    check_latency_ms: float,
    now: float,
    violation: str | None = None,
    severity: str | None = None,
    false_positive: bool | None = None,
    mode: str | None = None,
    cost_usd: Money = None,
    policy_version: str | None = None,
    environment: str | None = None,
    attributes: dict[str, Any] | None = None,
    event_id: str | uuid.UUID | None = None,
    timestamp: Timestamp = None,
) -> Event:
    """A checked enforcement event (one policy check); `ValueError` names the first bad field."""
    if type(layer) is not str or layer not in _LAYERS:
        raise _fail("layer", "must be one of " + ", ".join(LAYERS))
    if type(verdict) is not str or verdict not in _VERDICTS:
        raise _fail("verdict", "must be one of " + ", ".join(VERDICTS))
    event: Event = {
        "type": "enforcement",
        "request_id": _text("request_id", request_id, 128),
        "layer": layer,
        "policy": _text("policy", policy, 100),
        "verdict": verdict,
        "check_latency_ms": _number("check_latency_ms", check_latency_ms),
    }
    _common(event, event_id, timestamp, now, environment, attributes)
    if violation is not None:
        event["violation"] = _text("violation", violation, 100)
    if severity is not None:
        event["severity"] = _choice("severity", severity, _SEVERITIES, SEVERITIES)
    if false_positive is not None:
        event["false_positive"] = _boolean("false_positive", false_positive)
    if mode is not None:
        event["mode"] = _choice("mode", mode, _MODES, MODES)
    if cost_usd is not None:
        event["cost_usd"] = _money("cost_usd", cost_usd)
    if policy_version is not None:
        event["policy_version"] = _text("policy_version", policy_version, 64)
    return event


_SECOND_TEXT: dict[int, str] = {}  # whole second -> "YYYY-MM-DDTHH:MM:SS", for the batch at hand


def rfc3339(epoch_s: float) -> str:
    """Epoch seconds as RFC 3339 in UTC with microseconds (what the server stores).

    A batch's events share a few seconds, so the date part is formatted once per second.
    """
    second = int(epoch_s)
    micros = round((epoch_s - second) * 1_000_000)  # the nearest, as datetime rounds
    if micros == 1_000_000:
        second, micros = second + 1, 0
    text = _SECOND_TEXT.get(second)
    if text is None:
        if len(_SECOND_TEXT) > 64:
            _SECOND_TEXT.clear()
        text = datetime.fromtimestamp(second, _UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _SECOND_TEXT[second] = text
    return f"{text}.{micros:06d}+00:00"


def finalize(event: Event) -> Event:
    """Fix the event's timestamp as text, once: a retry must resend it unchanged."""
    moment = event["timestamp"]
    if type(moment) is float:
        event["timestamp"] = rfc3339(moment)
    return event

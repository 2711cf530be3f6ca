"""Event schema v1 (DESIGN.md): the fields of each event type and how each is checked.

The hot path validates plain dicts (parsed by orjson) with one table of field checks per event
type, rather than a serializer per event: each check takes the raw value and returns the value
to store or raises `Invalid` with a message for the client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import orjson

from governance.pricing import MONEY_QUANTUM

EVENT_TYPES = ("routing", "enforcement")
MODES = ("routing_first", "enforcement_first", "hybrid")
USER_TIERS = ("standard", "advanced", "vip")
STATUSES = ("ok", "error", "timeout", "rate_limited")
LAYERS = ("preprocess", "routing", "execution", "verification", "review")
VERDICTS = ("allow", "block", "modify", "flag")
SEVERITIES = ("low", "medium", "high", "critical")

MAX_INT = 2**31 - 1  # the raw tables store token counts as integer
MAX_NUMBER = 1e12
MAX_MONEY = Decimal("1000000000")
MAX_ATTRIBUTES_BYTES = 8 * 1024


class Invalid(ValueError):
    """A field value the schema refuses; the message is shown to the client."""


Check = Callable[[Any], Any]


def text(min_length: int, max_length: int) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("must be a string")
        if not min_length <= len(value) <= max_length:
            raise Invalid(f"must be {min_length} to {max_length} characters long")
        if "\x00" in value:
            raise Invalid("must not contain NUL characters")
        return value

    return check


def choice(options: tuple[str, ...]) -> Check:
    allowed = frozenset(options)
    message = "must be one of " + ", ".join(options)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(message)
        return value

    return check


def count(value: Any) -> int:
    if type(value) is not int:
        raise Invalid("must be a whole number")
    if not 0 <= value <= MAX_INT:
        raise Invalid(f"must be between 0 and {MAX_INT}")
    return value


def non_negative(value: Any) -> float:
    if type(value) not in (int, float):
        raise Invalid("must be a number")
    if not (0 <= value <= MAX_NUMBER) or not math.isfinite(value):
        raise Invalid(f"must be between 0 and {MAX_NUMBER:.0e}")
    return float(value)


def score(value: Any) -> float:
    if type(value) not in (int, float):
        raise Invalid("must be a number")
    if not 0 <= value <= 100:
        raise Invalid("must be between 0 and 100")
    return float(value)


# [0-9], not \d: \d and Decimal() take any script's digits, so "١٢" would be stored as 12.
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def money(value: Any) -> Decimal:
    if type(value) not in (int, float, str):
        raise Invalid("must be a decimal number (string or number)")
    text = str(value) if type(value) is not str else value.strip()
    if _DECIMAL.fullmatch(text) is None:
        raise Invalid('must be a non-negative decimal number in the digits 0-9, e.g. "0.0125"')
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Invalid("must be a decimal number") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_MONEY:
        raise Invalid(f"must be between 0 and {MAX_MONEY}")
    return amount.quantize(MONEY_QUANTUM)


def boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Invalid("must be true or false")
    return value


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def event_uuid(value: Any) -> str:
    """A UUID in its canonical text form, lower-cased: the database casts it to `uuid`.

    Kept as text on the hot path because building `uuid.UUID` objects costs more than the
    rest of an event's checks together.
    """
    if type(value) is not str:
        raise Invalid("must be a UUID string (8-4-4-4-12 hex digits)")
    canonical = value.lower()
    if _UUID.fullmatch(canonical) is None:
        raise Invalid("must be a UUID string (8-4-4-4-12 hex digits)")
    return canonical


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def rfc3339(value: Any) -> datetime:
    if type(value) is not str or _RFC3339.fullmatch(value) is None:
        raise Invalid("must be an RFC 3339 date-time with offset, e.g. 2026-11-25T10:00:00Z")
    if value[-1] == "z":
        value = value[:-1] + "Z"
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # well-formed but impossible, e.g. month 13 or offset +25:00
        raise Invalid("must be a valid date-time") from None


def attributes(value: Any) -> bytes:
    """The attributes object serialized, ready for a jsonb column."""
    if not isinstance(value, dict):
        raise Invalid("must be an object")
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise Invalid("is nested too deeply") from None
    if len(encoded) > MAX_ATTRIBUTES_BYTES:
        raise Invalid(f"must be at most {MAX_ATTRIBUTES_BYTES} bytes serialized")
    # PostgreSQL's jsonb cannot hold NUL; the cheap byte test only says where to look closely.
    if b"\\u0000" in encoded and _holds_nul(value):
        raise Invalid("must not contain NUL characters")
    return encoded


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


# (field, required, check, default). A null counts as absent. Shared by both event types:
COMMON_FIELDS: tuple[tuple[str, bool, Check, Any], ...] = (
    ("request_id", True, text(1, 128), None),
    ("environment", False, text(1, 64), "production"),
    ("attributes", False, attributes, None),
)

ROUTING_FIELDS: tuple[tuple[str, bool, Check, Any], ...] = (
    ("model", True, text(1, 100), None),
    ("provider", False, text(1, 100), None),
    ("mode", True, choice(MODES), None),
    ("user_tier", False, choice(USER_TIERS), "standard"),
    ("input_tokens", True, count, None),
    ("output_tokens", True, count, None),
    ("tool_calls", False, count, 0),
    ("complexity_score", False, score, None),
    ("latency_ms", True, non_negative, None),
    ("routing_latency_ms", False, non_negative, None),
    ("status", True, choice(STATUSES), None),
    ("error_type", False, text(1, 200), None),
    ("fallback_from", False, text(1, 100), None),
    ("cost_usd", False, money, None),
    ("cache_read_tokens", False, count, 0),
    ("cache_write_tokens", False, count, 0),
    ("reasoning_tokens", False, count, 0),
    ("route_reason", False, text(1, 64), None),
    ("router_version", False, text(1, 64), None),  # the routing policy's version; rollouts
)

ENFORCEMENT_FIELDS: tuple[tuple[str, bool, Check, Any], ...] = (
    ("layer", True, choice(LAYERS), None),
    ("policy", True, text(1, 100), None),
    ("verdict", True, choice(VERDICTS), None),
    ("violation", False, text(1, 100), None),
    ("severity", False, choice(SEVERITIES), None),
    ("false_positive", False, boolean, False),
    ("check_latency_ms", True, non_negative, None),
    ("cost_usd", False, money, None),  # what the check itself cost
    ("mode", False, choice(MODES), None),  # a request blocked before any attempt keeps its mode
    ("policy_version", False, text(1, 64), None),  # the policy's version; rollouts
)

FIELDS_BY_TYPE = {
    "routing": COMMON_FIELDS + ROUTING_FIELDS,
    "enforcement": COMMON_FIELDS + ENFORCEMENT_FIELDS,
}


@cache
def fields_with_default_mode(
    default_mode: str,
) -> dict[str, tuple[tuple[str, bool, Check, Any], ...]]:
    """The field tables with routing's `mode` optional and defaulting to `default_mode` (OTLP
    intake: a routing span without `tollgate.mode` takes its project's default mode)."""
    if default_mode not in MODES:
        raise ValueError(f"default mode {default_mode!r} is not one of {', '.join(MODES)}")
    routing = tuple(
        (name, False, check, default_mode) if name == "mode" else (name, required, check, default)
        for name, required, check, default in FIELDS_BY_TYPE["routing"]
    )
    return {**FIELDS_BY_TYPE, "routing": routing}

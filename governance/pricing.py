"""Pricing and complexity formulas of DESIGN.md ("Pricing"), as plain functions.

A `PriceBook` holds one project's matrix in memory so that a batch of events is priced without
a query per event: the price of a model at a time is the last price row whose `effective_from`
is at or before that time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

MONEY_QUANTUM = Decimal("0.00000001")
TOKENS_PER_PRICE_UNIT = 1000
TIER_POINTS = {"standard": 0.0, "advanced": 50.0, "vip": 100.0}


@dataclass(frozen=True, slots=True)
class Price:
    """A price row: USD per 1,000 tokens, in force from `effective_from`."""

    id: int
    effective_from: datetime
    input_per_1k: Decimal
    output_per_1k: Decimal
    cache_read_per_1k: Decimal
    cache_write_per_1k: Decimal


class MatrixEntry:
    """A model of the matrix with its prices, oldest first."""

    __slots__ = ("_starts", "name", "prices", "provider")

    def __init__(self, *, name: str, provider: str, prices: Iterable[Price]) -> None:
        self.name = name
        self.provider = provider
        self.prices = tuple(sorted(prices, key=lambda p: p.effective_from))
        self._starts = [p.effective_from for p in self.prices]

    def price_at(self, when: datetime) -> Price | None:
        """The price in force at `when`, or None before the model's first price."""
        index = bisect_right(self._starts, when) - 1
        return self.prices[index] if index >= 0 else None


class PriceBook:
    """One project's model matrix, for pricing many events at once."""

    def __init__(self, entries: Iterable[MatrixEntry]) -> None:
        self._entries = {entry.name: entry for entry in entries}

    def entry(self, model: str) -> MatrixEntry | None:
        return self._entries.get(model)

    @property
    def fingerprint(self) -> tuple:
        """Equal for two books exactly when they price every event alike."""
        return tuple((name, self._entries[name].prices) for name in sorted(self._entries))


def cost_usd(
    *,
    price: Price,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal:
    """What one model call costs at `price`; cache tokens are the cached part of the input."""
    uncached_input = input_tokens - cache_read_tokens - cache_write_tokens
    token_dollars = (
        uncached_input * price.input_per_1k
        + cache_read_tokens * price.cache_read_per_1k
        + cache_write_tokens * price.cache_write_per_1k
        + output_tokens * price.output_per_1k
    )
    return (token_dollars / TOKENS_PER_PRICE_UNIT).quantize(MONEY_QUANTUM)


def complexity_score(
    *, input_tokens: int, tool_calls: int, user_tier: str, token_scale: int, tool_scale: int
) -> float:
    """The seed complexity formula, 0..100, for events that do not report a score."""
    token_part = min(input_tokens / token_scale, 1.0) * 100
    tool_part = min(tool_calls / tool_scale, 1.0) * 100
    return round(0.4 * token_part + 0.3 * tool_part + 0.3 * TIER_POINTS[user_tier], 4)


MICRO_UNITS = 100_000_000  # numeric(20, 8): 1 unit is 1e-8 USD


def usd_of(units: int) -> Decimal:
    """Whole 1e-8 USD units (how rollups sum money) as exact dollars."""
    return Decimal(int(units)).scaleb(-8)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def cost_units_array(
    *,
    input_per_1k: np.ndarray,
    output_per_1k: np.ndarray,
    cache_read_per_1k: np.ndarray,
    cache_write_per_1k: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    cache_read_tokens: np.ndarray,
    cache_write_tokens: np.ndarray,
) -> np.ndarray:
    """`cost_usd` for many calls at once, in whole 1e-8 USD (int64), rounded half to even
    like `cost_usd`. Prices are int64 arrays in 1e-8 USD per 1,000 tokens.

    Exact: the products are checked to fit in int64; beyond that, Python integers are used.
    """
    prices = (input_per_1k, output_per_1k, cache_read_per_1k, cache_write_per_1k)
    tokens = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    largest = max((int(array.max()) if array.size else 0) for array in prices) * max(
        (int(array.max()) if array.size else 0) for array in tokens
    )
    dtype = np.int64 if largest * 4 < 2**62 else object
    uncached = input_tokens.astype(dtype) - cache_read_tokens - cache_write_tokens
    thousandths = (
        uncached * input_per_1k.astype(dtype)
        + cache_read_tokens.astype(dtype) * cache_read_per_1k
        + cache_write_tokens.astype(dtype) * cache_write_per_1k
        + output_tokens.astype(dtype) * output_per_1k
    )
    quotient, remainder = np.divmod(thousandths, TOKENS_PER_PRICE_UNIT)
    round_up = (remainder * 2 > TOKENS_PER_PRICE_UNIT) | (
        (remainder * 2 == TOKENS_PER_PRICE_UNIT) & (quotient % 2 == 1)
    )
    return (quotient + round_up).astype(np.int64)


@dataclass(frozen=True, slots=True)
class PricedCalls:
    """Many calls of one model priced at once: cost in 1e-8 USD, the price row used, and
    whether a price was in force at all (where not, the other two are meaningless)."""

    units: np.ndarray
    price_ids: np.ndarray
    has_price: np.ndarray


def calls_price(
    entry: MatrixEntry,
    *,
    moments_us: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    cache_read_tokens: np.ndarray,
    cache_write_tokens: np.ndarray,
) -> PricedCalls:
    """Price calls of `entry`'s model made at `moments_us` (epoch microseconds, UTC) with the
    price in force at each moment, exactly as `cost_usd` prices one call."""
    count = len(moments_us)
    if not entry.prices:
        empty = np.zeros(count, dtype=np.int64)
        return PricedCalls(empty, empty, np.zeros(count, dtype=bool))
    starts = np.array(
        [(price.effective_from - EPOCH) // MICROSECOND for price in entry.prices],
        dtype=np.int64,
    )
    positions = np.searchsorted(starts, moments_us, side="right") - 1
    has_price = positions >= 0
    safe = np.where(has_price, positions, 0)

    def per_call(attribute: str) -> np.ndarray:
        units = [int(getattr(price, attribute) * MICRO_UNITS) for price in entry.prices]
        return np.array(units, dtype=np.int64)[safe]

    units = cost_units_array(
        input_per_1k=per_call("input_per_1k"),
        output_per_1k=per_call("output_per_1k"),
        cache_read_per_1k=per_call("cache_read_per_1k"),
        cache_write_per_1k=per_call("cache_write_per_1k"),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
    )
    price_ids = np.array([price.id for price in entry.prices], dtype=np.int64)[safe]
    return PricedCalls(units, price_ids, has_price)

"""Pricing and complexity formulas against slow exact versions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from governance.pricing import MatrixEntry, Price, complexity_score, cost_usd

prices = st.decimals(min_value=0, max_value=1, places=6, allow_nan=False, allow_infinity=False)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def price(
    input_=Decimal("0.007"),
    output=Decimal("0.007"),
    cache_read=None,
    cache_write=None,
    at=T0,
    id_=1,
):
    return Price(
        id=id_,
        effective_from=at,
        input_per_1k=input_,
        output_per_1k=output,
        cache_read_per_1k=input_ if cache_read is None else cache_read,
        cache_write_per_1k=input_ if cache_write is None else cache_write,
    )


@given(
    input_price=prices,
    output_price=prices,
    cache_read_price=prices,
    cache_write_price=prices,
    tokens=st.tuples(*(st.integers(0, 2_000_000) for _ in range(4))),
)
def test_cost_matches_exact_rational_arithmetic(
    input_price, output_price, cache_read_price, cache_write_price, tokens
):
    cache_read, cache_write, uncached, output = tokens
    input_tokens = cache_read + cache_write + uncached
    exact = (
        Fraction(uncached) * Fraction(input_price)
        + Fraction(cache_read) * Fraction(cache_read_price)
        + Fraction(cache_write) * Fraction(cache_write_price)
        + Fraction(output) * Fraction(output_price)
    ) / 1000
    computed = cost_usd(
        price=price(input_price, output_price, cache_read_price, cache_write_price),
        input_tokens=input_tokens,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    assert abs(Fraction(computed) - exact) <= Fraction(1, 2 * 10**8)


def test_price_in_force_is_the_latest_at_or_before_the_moment():
    change = T0 + timedelta(days=30)
    entry = MatrixEntry(
        name="m", provider="p", prices=[price(at=change, id_=2), price(at=T0, id_=1)]
    )

    def in_force(moment: datetime) -> int | None:
        found = entry.price_at(moment)
        return None if found is None else found.id

    assert in_force(T0 - timedelta(seconds=1)) is None
    assert in_force(T0) == 1
    assert in_force(change - timedelta(microseconds=1)) == 1
    assert in_force(change) == 2


@given(
    input_tokens=st.integers(0, 100_000),
    tool_calls=st.integers(0, 50),
    tier=st.sampled_from(["standard", "advanced", "vip"]),
    token_scale=st.integers(1, 20_000),
    tool_scale=st.integers(1, 20),
)
def test_complexity_score_formula(input_tokens, tool_calls, tier, token_scale, tool_scale):
    tier_points = {"standard": 0, "advanced": 50, "vip": 100}[tier]
    expected = (
        0.4 * min(input_tokens / token_scale, 1) * 100
        + 0.3 * min(tool_calls / tool_scale, 1) * 100
        + 0.3 * tier_points
    )
    score = complexity_score(
        input_tokens=input_tokens,
        tool_calls=tool_calls,
        user_tier=tier,
        token_scale=token_scale,
        tool_scale=tool_scale,
    )
    assert 0 <= score <= 100
    assert abs(score - expected) < 1e-3

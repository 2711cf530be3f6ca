"""The shape of every money column: numeric(20, 8), exact dollars and cents to eight places."""

from __future__ import annotations

from typing import Final, TypedDict


class MoneyColumn(TypedDict):
    """DecimalField options; a TypedDict so `DecimalField(**MONEY)` type-checks."""

    max_digits: int
    decimal_places: int


MONEY: Final[MoneyColumn] = {"max_digits": 20, "decimal_places": 8}

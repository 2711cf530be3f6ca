"""Reads of governance data used by the other apps."""

from __future__ import annotations

from decimal import Decimal

from governance.keys import key_matches, key_prefix
from governance.models import ApiKey, MatrixModel, ModelPrice
from governance.pricing import MatrixEntry, Price, PriceBook


def api_key_for_secret(raw_key: str) -> ApiKey | None:
    """The key row a presented secret belongs to (revoked ones included), or None."""
    prefix = key_prefix(raw_key)
    if prefix is None:
        return None
    api_key = (
        ApiKey.objects.select_related("project__organization", "service")
        .filter(prefix=prefix)
        .first()
    )
    if api_key is None or not key_matches(raw_key, api_key.digest):
        return None
    return api_key


def price_book_for_project(*, project_id: int) -> PriceBook:
    """The project's model matrix with every price row (two queries, whatever its size)."""
    models = MatrixModel.objects.filter(project_id=project_id).prefetch_related("prices")
    return PriceBook(
        MatrixEntry(
            name=model.name,
            provider=model.provider,
            prices=[_price(row) for row in model.prices.all()],
        )
        for model in models
    )


def _price(row: ModelPrice) -> Price:
    return Price(
        id=row.pk,
        effective_from=row.effective_from,
        input_per_1k=row.input_per_1k,
        output_per_1k=row.output_per_1k,
        # Cache prices default to the input price (DESIGN.md "Pricing").
        cache_read_per_1k=_or(row.cache_read_per_1k, row.input_per_1k),
        cache_write_per_1k=_or(row.cache_write_per_1k, row.input_per_1k),
    )


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value

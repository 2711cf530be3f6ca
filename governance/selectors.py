"""Reads of governance data used by the other apps."""

from __future__ import annotations

from governance.keys import key_matches, key_prefix
from governance.models import ApiKey, ComplexityBand, MatrixModel, Project
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
    """The project's model matrix with every price row, in one query (it runs per batch)."""
    rows = (
        MatrixModel.objects.filter(project_id=project_id)
        .order_by("name", "prices__effective_from")
        .values_list(
            "name",
            "provider",
            "prices__id",
            "prices__effective_from",
            "prices__input_per_1k",
            "prices__output_per_1k",
            "prices__cache_read_per_1k",
            "prices__cache_write_per_1k",
        )
    )
    providers: dict[str, str] = {}
    prices: dict[str, list[Price]] = {}
    for name, provider, price_id, since, input_price, output_price, cache_read, cache_write in rows:
        providers[name] = provider
        model_prices = prices.setdefault(name, [])
        if price_id is not None:  # a model listed without any price yet
            model_prices.append(
                Price(
                    id=price_id,
                    effective_from=since,
                    input_per_1k=input_price,
                    output_per_1k=output_price,
                    # Cache prices default to the input price (DESIGN.md "Pricing").
                    cache_read_per_1k=input_price if cache_read is None else cache_read,
                    cache_write_per_1k=input_price if cache_write is None else cache_write,
                )
            )
    return PriceBook(
        MatrixEntry(name=name, provider=provider, prices=prices[name])
        for name, provider in providers.items()
    )


def baseline_model_name(*, project_id: int) -> str | None:
    """The project's baseline model: its setting, else the most expensive active model.

    "Most expensive" compares the latest price's input + output price per 1,000 tokens.
    """
    project = Project.objects.only("baseline_model").get(pk=project_id)
    if project.baseline_model:
        return project.baseline_model
    book = price_book_for_project(project_id=project_id)
    active = set(
        MatrixModel.objects.filter(project_id=project_id, is_active=True).values_list(
            "name", flat=True
        )
    )
    priced = [
        (entry.prices[-1].input_per_1k + entry.prices[-1].output_per_1k, entry.name)
        for name in active
        if (entry := book.entry(name)) is not None and entry.prices
    ]
    return max(priced)[1] if priced else None


def complexity_bands(*, project_id: int) -> list[tuple[float, float, str]]:
    """The project's bands as (min, max, model), lowest first."""
    return [
        (float(low), float(high), model)
        for low, high, model in ComplexityBand.objects.filter(project_id=project_id)
        .order_by("min_score")
        .values_list("min_score", "max_score", "model_name")
    ]

"""What every metric is computed over (`MetricsQuery`), the one read of the rollups that all
figures come from (`rollup_totals`), and the rounding every answer shares.

Every figure is computed for a `MetricsQuery`: a window of whole minutes, the projects the
caller may see, and optional filters. Rollup rows are read at the coarsest grain that tiles
the window (days, hours, minutes at the edges), so the cost of a query depends on the window
and the number of dimension combinations, not on the number of raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from analytics.metrics.results import Latency
from analytics.metrics.window import INTERVAL_GRAIN, Window
from analytics.rollups.families import Family
from analytics.rollups.sketch import sketch_merge, sketch_summary, sketch_unpack
from governance.models import Project, Service
from governance.pricing import MICRO_UNITS, usd_of
from tollgate.db.sql import fetch_rows

MONEY_PLACES = Decimal("0.000001")
MODES = ("routing_first", "enforcement_first", "hybrid")
# What `mode=` names the requests no event told a mode of; the rollups keep their mode "".
UNKNOWN_MODE = "unknown"
# How a sentence names each mode (the article's words), on pages and in advice alike.
MODE_WORDS = {
    "routing_first": "routing-first",
    "enforcement_first": "enforcement-first",
    "hybrid": "hybrid",
    UNKNOWN_MODE: "no mode reported",
}


@dataclass(frozen=True)
class MetricsQuery:
    """What to compute over: a window, the projects in scope, and optional filters."""

    window: Window
    projects: tuple[Project, ...]
    service_ids: tuple[int, ...] | None = None
    model: str | None = None
    mode: str | None = None
    environment: str | None = None
    # Only the layer rollups carry policies: a policy filter narrows checks (layers, policies,
    # check cost), not requests or attempts, as model and mode leave checks whole.
    policy: str | None = None
    applied: dict[str, str] = field(default_factory=dict)  # echoed in answers

    @property
    def project_ids(self) -> list[int]:
        return [project.pk for project in self.projects]

    @property
    def projects_by_id(self) -> dict[int, Project]:
        return {project.pk: project for project in self.projects}

    def unfiltered_by_model(
        self, *, window: Window | None = None, projects: tuple[Project, ...] | None = None
    ) -> MetricsQuery:
        """The same query without its model filter (a model mix filtered to one model says
        nothing), over another window or projects when given."""
        return MetricsQuery(
            window=window or self.window,
            projects=self.projects if projects is None else projects,
            service_ids=self.service_ids,
            mode=self.mode,
            environment=self.environment,
            policy=self.policy,
        )


# --- Reading rollups ----------------------------------------------------------------------

Totals = dict[str, Any]  # a group's dimensions, summed measures and merged sketches


def rollup_totals(
    family: Family,
    query: MetricsQuery,
    by: tuple[str, ...] = (),
    *,
    window: Window | None = None,
    interval: str | None = None,
    sketches: tuple[str, ...] | None = None,
) -> list[Totals]:
    """The family's measures summed per `by` dimensions (and per `interval` bucket, as "time"),
    over rollup rows that tile the window exactly; money in 1e-8 USD, sketches merged.

    PostgreSQL sums the counts and money and concatenates each group's packed sketches, so a
    30-day window returns a row per group, not thousands of rollup rows, and numpy reads each
    group's records in place and adds them up. Only the `sketches` named are read (default all).
    Groups whose population sums to zero (requests that moved minute) are left out.
    """
    sketches = family.sketches if sketches is None else sketches
    pieces = (window or query.window).pieces(INTERVAL_GRAIN[interval] if interval else "d")
    if not pieces or not query.projects:
        return []
    conditions, params = _conditions(family, query, pieces)
    keys = [f"t.{name}" for name in by]
    if interval:
        keys.insert(0, f"date_trunc('{interval}', t.bucket, 'UTC')")
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    names = [*(("time",) if interval else ()), *by, *family.counts, *family.floats]
    names += [*family.money, *sketches]
    # Binary results: the packed sketches arrive as bytes, not as hex text twice their size.
    found = fetch_rows(
        f"SELECT {', '.join(_columns(family, keys, sketches))} FROM {family.table} t "
        f"WHERE {' AND '.join(conditions)}{group} HAVING count(*) > 0",
        params,
    )
    rows = [dict(zip(names, row, strict=True)) for row in found]
    rows = [row for row in rows if row[family.population]]
    for row in rows:
        for name in sketches:
            row[name] = sketch_unpack(row[name])
    return rows


def _conditions(
    family: Family, query: MetricsQuery, pieces: list[tuple[str, Any, Any]]
) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (and their parameters) of the query's projects, window pieces
    and filters."""
    conditions = ["t.project_id = ANY(%s)"]
    params: list[Any] = [query.project_ids]
    spans = " OR ".join("(t.grain = %s AND t.bucket >= %s AND t.bucket < %s)" for _ in pieces)
    conditions.append(f"({spans})")
    params += [value for piece in pieces for value in piece]
    if query.service_ids is not None:
        conditions.append("t.service_id = ANY(%s)")
        params.append(list(query.service_ids))
    if query.environment is not None:
        conditions.append("t.environment = %s")
        params.append(query.environment)
    # Checks have no model or mode, attempts and requests no policy: a filter applies to the
    # families that carry its dimension.
    for name in ("model", "mode", "policy"):
        value = getattr(query, name)
        if value is not None and name in family.dims:
            conditions.append(f"t.{name} = %s")
            params.append(value)
    return conditions, params


def _columns(family: Family, keys: list[str], sketches: tuple[str, ...]) -> list[str]:
    """The selected columns: group keys, summed measures (money as int64 units), sketches."""
    return [
        *keys,
        *(f"sum(t.{name})::bigint" for name in family.counts),
        *(f"sum(t.{name})" for name in family.floats),
        *(f"(sum(t.{name}) * {MICRO_UNITS})::bigint" for name in family.money),
        *(f"string_agg(t.{name}, ''::bytea)" for name in sketches),
    ]


def family_totals(family: Family, query: MetricsQuery) -> Totals:
    """The family's totals over the whole window (zeros and empty sketches when none)."""
    return totals_sum(family, rollup_totals(family, query))


def totals_sum(family: Family, rows: Iterable[Totals]) -> Totals:
    """Several groups' totals added together (zeros and an empty sketch when none)."""
    rows = list(rows)
    total: Totals = {name: sum(row[name] for row in rows) for name in family.summed}
    for name in family.sketches:
        total[name] = sketch_merge(row.get(name) for row in rows)
    return total


def checks_cost(rows: Iterable[Totals], projects: Mapping[int, Project]) -> Decimal:
    """What these layer- or request-rollup groups' checks cost themselves, in USD
    (unrounded): reported costs, plus the project's check cost for each check that reported
    none. Rows carry `project_id`; the setting is read now, so a change of it applies to
    every window at once."""
    return sum(
        (
            usd_of(row["reported_check_cost_usd"])
            + row["unreported_checks"] * projects[row["project_id"]].check_cost_usd
            for row in rows
        ),
        Decimal(0),
    )


def service_names(query: MetricsQuery) -> dict[int, str]:
    """The names of the services of the query's projects, by id."""
    return dict(Service.objects.filter(project__in=query.project_ids).values_list("pk", "name"))


# --- Rounding -----------------------------------------------------------------------------


def money(units: int | Decimal) -> Decimal:
    """Money (1e-8 USD units, or USD) rounded to the micro-dollar, as every answer shows it."""
    value = units if isinstance(units, Decimal) else usd_of(units)
    return value.quantize(MONEY_PLACES)


def cost_per_1k(amount: int | Decimal, requests: int) -> Decimal | None:
    """Cost (1e-8 USD units, or unrounded USD) per 1,000 requests as money; None without
    requests."""
    value = amount if isinstance(amount, Decimal) else usd_of(amount)
    return money(value * 1000 / requests) if requests else None


def rate(numerator: float, denominator: float) -> float | None:
    """numerator / denominator to six places; None when the denominator is zero."""
    return None if not denominator else round(numerator / denominator, 6)


def latency(
    sketch: Mapping[str, Any] | None,
    total_ms: float | None,
    count: int,
    names: tuple[str, ...],
) -> Latency:
    """The named percentiles of a sketch, and the mean when a sum is kept (`total_ms`)."""
    percentiles = sketch_summary(sketch, names)
    if total_ms is None:
        return Latency(**percentiles)
    return Latency(**percentiles, mean=round(total_ms / count, 3) if count else None)

"""Reads of the metrics (DESIGN.md "Metric definitions"), from rollups only.

Every figure is computed for a `MetricsQuery`: a window of whole minutes, the projects the
caller may see, and optional filters. Rollup rows are read at the coarsest grain that tiles
the window (days, hours, minutes at the edges), so the cost of a query depends on the window
and the number of dimension combinations, not on the number of raw events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from analytics.metrics.window import INTERVAL_GRAIN, Window
from analytics.models import Repricing, RepricingState
from analytics.rollups.families import ATTEMPTS, LAYERS, REQUESTS, Family
from analytics.rollups.sketch import sketch_merge, sketch_summary, sketch_unpack
from governance.models import ComplexityBand, Project, Service
from governance.pricing import MICRO_UNITS, usd_of
from governance.selectors import complexity_bands
from tollgate.db.sql import fetch_rows

LAYER_ORDER = ("preprocess", "routing", "execution", "verification", "review")
MONEY_PLACES = Decimal("0.000001")
PSI_FLOOR = 0.0001
TRAILING_REFERENCE = timedelta(days=7)  # the reference mix when a project expects none


@dataclass(frozen=True)
class MetricsQuery:
    """What to compute over: a window, the projects in scope, and optional filters."""

    window: Window
    projects: tuple[Project, ...]
    service_ids: tuple[int, ...] | None = None
    model: str | None = None
    mode: str | None = None
    environment: str | None = None
    applied: dict[str, str] = field(default_factory=dict)  # echoed in answers

    @property
    def project_ids(self) -> list[int]:
        return [project.pk for project in self.projects]


# --- Reading rollups ----------------------------------------------------------------------

Totals = dict[str, Any]


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
    window = window or query.window
    sketches = family.sketches if sketches is None else sketches
    grain = INTERVAL_GRAIN[interval] if interval else "d"
    pieces = window.pieces(grain)
    if not pieces or not query.projects:
        return []
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
    for name in ("model", "mode"):  # checks have no model or mode: layer rows are not filtered
        value = getattr(query, name)
        if value is not None and name in family.dims:
            conditions.append(f"t.{name} = %s")
            params.append(value)
    keys = [f"t.{name}" for name in by]
    if interval:
        keys.insert(0, f"date_trunc('{interval}', t.bucket, 'UTC')")
    select = [
        *keys,
        *(f"sum(t.{name})::bigint" for name in family.counts),
        *(f"sum(t.{name})" for name in family.floats),
        *(f"(sum(t.{name}) * {MICRO_UNITS})::bigint" for name in family.money),
        *(f"string_agg(t.{name}, ''::bytea)" for name in sketches),
    ]
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    names = [*(("time",) if interval else ()), *by, *family.counts, *family.floats]
    names += [*family.money, *sketches]
    # Binary results: the packed sketches arrive as bytes, not as hex text twice their size.
    found = fetch_rows(
        f"SELECT {', '.join(select)} FROM {family.table} t "
        f"WHERE {' AND '.join(conditions)}{group} HAVING count(*) > 0",
        params,
    )
    rows = [dict(zip(names, row, strict=True)) for row in found]
    rows = [row for row in rows if row[family.population]]
    for row in rows:
        for name in sketches:
            row[name] = sketch_unpack(row[name])
    return rows


def _one(family: Family, query: MetricsQuery) -> Totals:
    """The family's totals over the whole window (zeros and empty sketches when none)."""
    return _sum_of(family, rollup_totals(family, query))


def _sum_of(family: Family, rows: Iterable[Totals]) -> Totals:
    """Several groups' totals added together (zeros and an empty sketch when none)."""
    rows = list(rows)
    total: Totals = {name: sum(row[name] for row in rows) for name in family.summed}
    for name in family.sketches:
        total[name] = sketch_merge(row.get(name) for row in rows)
    return total


# --- Formatting ---------------------------------------------------------------------------


def money(units: int | Decimal) -> str:
    """Money as a decimal string with 6 places."""
    value = units if isinstance(units, Decimal) else usd_of(units)
    return str(value.quantize(MONEY_PLACES))


def cost_per_1k(units: int, requests: int) -> str | None:
    """Cost (in 1e-8 USD units) per 1,000 requests as money; None without requests."""
    return money(usd_of(units) * 1000 / requests) if requests else None


def rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else round(numerator / denominator, 6)


def latency(
    sketch: Any, total_ms: float | None, count: int, names: tuple[str, ...]
) -> dict[str, Any]:
    summary = sketch_summary(sketch, names)
    if total_ms is not None:
        summary["mean"] = round(total_ms / count, 3) if count else None
    return summary


ALL_PERCENTILES = ("p50", "p75", "p90", "p95", "p99")


# --- Summary ------------------------------------------------------------------------------


def metrics_summary(query: MetricsQuery) -> dict[str, Any]:
    """Every headline figure of DESIGN.md's summary for the query."""
    attempts = _one(ATTEMPTS, query)
    per_project = {
        row["project_id"]: row for row in rollup_totals(REQUESTS, query, ("project_id",))
    }
    requests = _sum_of(REQUESTS, per_project.values())
    settings = {project.pk: project for project in query.projects}

    enforcement_cost = sum(
        (
            row["intercepted"] * settings[project_id].interception_cost_usd
            + row["modified"] * settings[project_id].correction_cost_usd
            for project_id, row in per_project.items()
        ),
        Decimal(0),
    )
    error_cost_savings = sum(
        (
            row["caught"] * settings[project_id].incident_cost_usd
            for project_id, row in per_project.items()
        ),
        Decimal(0),
    )
    baseline = usd_of(attempts["baseline_cost_usd"])
    routing_savings = baseline - usd_of(attempts["baseline_actual_cost_usd"])
    gains = routing_savings + error_cost_savings
    return {
        "window": window_answer(query),
        "requests": int(requests["requests"]),
        "attempts": int(attempts["attempts"]),
        "error_rate": rate(attempts["errors"], attempts["attempts"]),
        "availability": rate(requests["served"], requests["with_attempt"]),
        "latency_ms": latency(
            attempts["latency_sketch"],
            attempts["latency_sum_ms"],
            attempts["attempts"],
            ALL_PERCENTILES,
        ),
        "routing_latency_ms": latency(
            attempts["routing_latency_sketch"],
            attempts["routing_latency_sum_ms"],
            attempts["routing_latency_count"],
            ALL_PERCENTILES,
        ),
        "overhead_ms": latency(requests["overhead_sketch"], None, 0, ("p50", "p95", "p99")),
        "cost_usd": money(attempts["cost_usd"]),
        "cost_per_1k_requests_usd": cost_per_1k(attempts["cost_usd"], requests["requests"]),
        "unpriced_attempts": int(attempts["unpriced_attempts"]),
        "tokens": {
            "input": int(attempts["input_tokens"]),
            "output": int(attempts["output_tokens"]),
        },
        "interception_rate": rate(requests["intercepted"], requests["requests"]),
        "block_rate": rate(requests["blocked"], requests["requests"]),
        "modify_rate": rate(requests["modified"], requests["requests"]),
        "violation_rate": rate(requests["escaped"], requests["requests"]),
        "detected_violation_rate": rate(requests["violation_detected"], requests["requests"]),
        "catch_rate": rate(requests["caught"], requests["violation_detected"]),
        "false_positive_rate": rate(requests["false_positive"], requests["intercepted"]),
        "enforcement_cost_usd": money(enforcement_cost),
        "baseline_cost_usd": money(baseline),
        "routing_savings_usd": money(routing_savings),
        "error_cost_savings_usd": money(error_cost_savings),
        "roi": float(round((gains - enforcement_cost) / enforcement_cost, 6))
        if enforcement_cost
        else None,
        "savings_multiple": float(round(gains / enforcement_cost, 6)) if enforcement_cost else None,
    }


def window_answer(query: MetricsQuery) -> dict[str, Any]:
    """The window and filters an answer used, and any repricing still moving its money
    figures (so a figure that mixes old and new prices never does so silently)."""
    return {
        "from": query.window.start.isoformat(),
        "to": query.window.end.isoformat(),
        "filters": query.applied,
        "repricing": repricings_in_progress(query.project_ids),
    }


def repricings_in_progress(project_ids: list[int]) -> list[dict[str, Any]]:
    """Unfinished repricing jobs of these projects, oldest first, with their progress 0..1."""
    jobs = Repricing.objects.filter(
        project_id__in=project_ids, state__in=[RepricingState.QUEUED, RepricingState.RUNNING]
    ).select_related("project")
    return [
        {"project": job.project.name, "reason": job.reason, "progress": round(job.progress, 4)}
        for job in jobs.order_by("created_at")
    ]


# --- Models, layers -----------------------------------------------------------------------


def metrics_models(query: MetricsQuery) -> list[dict[str, Any]]:
    """A row per model: attempts, share, cost, latency percentiles, error rate."""
    rows = rollup_totals(ATTEMPTS, query, ("model", "provider"), sketches=("latency_sketch",))
    total = sum(row["attempts"] for row in rows)
    return [
        {
            "model": row["model"],
            "provider": row["provider"],
            "attempts": int(row["attempts"]),
            "share": rate(row["attempts"], total),
            "cost_usd": money(row["cost_usd"]),
            "unpriced_attempts": int(row["unpriced_attempts"]),
            "latency_ms": latency(
                row["latency_sketch"], row["latency_sum_ms"], row["attempts"], ALL_PERCENTILES
            ),
            "error_rate": rate(row["errors"], row["attempts"]),
        }
        for row in sorted(rows, key=lambda row: (-row["attempts"], row["model"]))
    ]


SPEND_GROUPS = {"project": "project_id", "service": "service_id", "model": "model"}
NO_ATTEMPTS: Totals = {"attempts": 0, "cost_usd": 0, "unpriced_attempts": 0}


def _spend_labels(query: MetricsQuery, by: str) -> Any:
    """How a group's key is shown: project and service names (services of the same name in
    several projects are one row, as the `service` filter takes them), models as they are."""
    if by == "project":
        return {project.pk: project.name for project in query.projects}.__getitem__
    if by == "service":
        names = _service_names(query)
        return lambda pk: names.get(pk, str(pk))
    return str


def metrics_spend(query: MetricsQuery, *, by: str) -> list[dict[str, Any]]:
    """Spend per project, service or model, most expensive first; each row holds the summary's
    attempts, requests, cost, cost per 1,000 requests and unpriced attempts for the query
    filtered to that project, service or model (a request counts for the model of its first
    attempt)."""
    column = SPEND_GROUPS[by]
    label = _spend_labels(query, by)
    attempts: dict[str, Totals] = {}
    for row in rollup_totals(ATTEMPTS, query, (column,), sketches=()):
        totals = attempts.setdefault(label(row[column]), dict(NO_ATTEMPTS))
        for name in NO_ATTEMPTS:
            totals[name] += int(row[name])
    requests: dict[str, int] = {}
    for row in rollup_totals(REQUESTS, query, (column,), sketches=()):
        key = label(row[column])
        requests[key] = requests.get(key, 0) + int(row["requests"])
    keys = (attempts.keys() | requests.keys()) - {""}  # a request stopped before any attempt
    ordered = sorted(keys, key=lambda key: (-attempts.get(key, NO_ATTEMPTS)["cost_usd"], key))
    answer = []
    for key in ordered:
        totals = attempts.get(key, NO_ATTEMPTS)
        answer.append(
            {
                by: key,
                "attempts": totals["attempts"],
                "requests": requests.get(key, 0),
                "cost_usd": money(totals["cost_usd"]),
                "cost_per_1k_requests_usd": cost_per_1k(totals["cost_usd"], requests.get(key, 0)),
                "unpriced_attempts": totals["unpriced_attempts"],
            }
        )
    return answer


def metrics_layers(query: MetricsQuery) -> list[dict[str, Any]]:
    """A row per enforcement layer, in the order requests meet them."""
    rows = {row["layer"]: row for row in rollup_totals(LAYERS, query, ("layer",))}
    answer = []
    for layer in LAYER_ORDER:
        row = rows.get(
            layer, {"checks": 0, "blocks": 0, "modifies": 0, "check_latency_sketch": None}
        )
        answer.append(
            {
                "layer": layer,
                "checks": int(row["checks"]),
                "blocks": int(row["blocks"]),
                "modifies": int(row["modifies"]),
                "interception_rate": rate(row["blocks"] + row["modifies"], row["checks"]),
                "check_latency_ms": sketch_summary(row["check_latency_sketch"], ("p50", "p95")),
            }
        )
    return answer


# --- Time series --------------------------------------------------------------------------

SERIES_METRICS: dict[str, tuple[Family, Any]] = {
    "attempts": (ATTEMPTS, lambda r: int(r["attempts"])),
    "fallbacks": (ATTEMPTS, lambda r: int(r["fallbacks"])),
    "error_rate": (ATTEMPTS, lambda r: rate(r["errors"], r["attempts"])),
    "cost_usd": (ATTEMPTS, lambda r: money(r["cost_usd"])),
    "latency_p50_ms": (ATTEMPTS, lambda r: sketch_summary(r["latency_sketch"], ("p50",))["p50"]),
    "latency_p95_ms": (ATTEMPTS, lambda r: sketch_summary(r["latency_sketch"], ("p95",))["p95"]),
    "latency_p99_ms": (ATTEMPTS, lambda r: sketch_summary(r["latency_sketch"], ("p99",))["p99"]),
    "requests": (REQUESTS, lambda r: int(r["requests"])),
    "availability": (REQUESTS, lambda r: rate(r["served"], r["with_attempt"])),
    "interception_rate": (REQUESTS, lambda r: rate(r["intercepted"], r["requests"])),
    "violation_rate": (REQUESTS, lambda r: rate(r["escaped"], r["requests"])),
    "checks": (LAYERS, lambda r: int(r["checks"])),
    "layer_interception_rate": (LAYERS, lambda r: rate(r["blocks"] + r["modifies"], r["checks"])),
}
GROUPS = {"model": "model", "service": "service_id", "layer": "layer"}


class UnsupportedGrouping(ValueError):
    """A group_by the metric's rollups do not carry (e.g. layer for cost)."""


def metrics_timeseries(
    query: MetricsQuery, *, metric: str, interval: str, group_by: str | None
) -> list[dict[str, Any]]:
    """Points of one metric per interval (and group), oldest first."""
    family, value_of = SERIES_METRICS[metric]
    column = GROUPS.get(group_by) if group_by else None
    if column is not None and column not in family.dims:
        raise UnsupportedGrouping(f"{metric} cannot be grouped by {group_by}")
    sketches = ("latency_sketch",) if metric.startswith("latency_") else ()
    rows = rollup_totals(
        family, query, (column,) if column else (), interval=interval, sketches=sketches
    )
    names = _service_names(query) if column == "service_id" else {}
    points = []
    for row in rows:
        point: dict[str, Any] = {"time": row["time"].astimezone(UTC).isoformat()}
        if column == "service_id":
            point["group"] = names.get(row[column], str(row[column]))
        elif column:
            point["group"] = row[column]
        point["value"] = value_of(row)
        points.append(point)
    return sorted(points, key=lambda point: (point["time"], str(point.get("group", ""))))


def _service_names(query: MetricsQuery) -> dict[int, str]:
    return dict(Service.objects.filter(project__in=query.project_ids).values_list("pk", "name"))


# --- Drift --------------------------------------------------------------------------------


def psi(actual: dict[str, float], expected: dict[str, float]) -> float | None:
    """Population stability index of two model mixes, each share floored at 0.0001."""
    models = set(actual) | set(expected)
    if not models:
        return None
    total = 0.0
    for model in models:
        a = max(actual.get(model, 0.0), PSI_FLOOR)
        e = max(expected.get(model, 0.0), PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return round(total, 6)


def psi_status(value: float | None) -> str | None:
    if value is None:
        return None
    return "stable" if value < 0.1 else "moderate" if value <= 0.25 else "drifted"


def _mix(rows: list[Totals]) -> dict[str, float]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["model"]] = totals.get(row["model"], 0) + row["nonfallback_attempts"]
    count = sum(totals.values())
    return {model: value / count for model, value in totals.items() if value} if count else {}


def metrics_drift(query: MetricsQuery) -> list[dict[str, Any]]:
    """Per project: PSI of the model mix against the expected one, and band conformance."""
    answer = []
    for project in query.projects:
        scoped = MetricsQuery(
            window=query.window,
            projects=(project,),
            service_ids=query.service_ids,
            mode=query.mode,
            environment=query.environment,
        )
        rows = rollup_totals(ATTEMPTS, scoped, ("model",), sketches=())
        actual = _mix(rows)
        if project.expected_shares:
            expected, reference = dict(project.expected_shares), "expected_shares"
        else:
            trailing = Window(query.window.start - TRAILING_REFERENCE, query.window.start)
            expected, reference = (
                _mix(rollup_totals(ATTEMPTS, scoped, ("model",), window=trailing, sketches=())),
                "trailing_7_days",
            )
        value = psi(actual, expected) if actual and expected else None
        totals = _sum_of(ATTEMPTS, rows)
        banded = bool(complexity_bands(project_id=project.pk))
        answer.append(
            {
                "project": project.name,
                "psi": value,
                "status": psi_status(value),
                "reference": reference,
                "conformance": rate(totals["conforming_attempts"], totals["nonfallback_attempts"])
                if banded
                else None,
                "nonfallback_attempts": int(totals["nonfallback_attempts"]),
                "mix": [
                    {
                        "model": model,
                        "share": round(actual.get(model, 0.0), 6),
                        "expected_share": round(expected.get(model, 0.0), 6),
                    }
                    for model in sorted(set(actual) | set(expected))
                ],
            }
        )
    return answer


def metrics_drift_timeseries(query: MetricsQuery, *, interval: str) -> list[dict[str, Any]]:
    """Per project and interval: PSI of that interval's model mix against the reference mix
    `metrics_drift` uses for the window, and band conformance (None without bands); oldest
    first. Three reads whatever the number of projects or intervals."""
    scoped = MetricsQuery(  # as in metrics_drift: a mix filtered to one model says nothing
        window=query.window,
        projects=query.projects,
        service_ids=query.service_ids,
        mode=query.mode,
        environment=query.environment,
    )
    by = ("project_id", "model")
    rows = rollup_totals(ATTEMPTS, scoped, by, interval=interval, sketches=())
    references = {
        project.pk: dict(project.expected_shares)
        for project in query.projects
        if project.expected_shares
    }
    unexpected = tuple(project for project in query.projects if not project.expected_shares)
    if unexpected:
        trailing = Window(query.window.start - TRAILING_REFERENCE, query.window.start)
        trailing_rows = rollup_totals(
            ATTEMPTS,
            MetricsQuery(
                window=trailing,
                projects=unexpected,
                service_ids=query.service_ids,
                mode=query.mode,
                environment=query.environment,
            ),
            by,
            sketches=(),
        )
        for project in unexpected:
            references[project.pk] = _mix(
                [row for row in trailing_rows if row["project_id"] == project.pk]
            )
    banded = set(
        ComplexityBand.objects.filter(project_id__in=query.project_ids).values_list(
            "project_id", flat=True
        )
    )
    buckets: dict[tuple[Any, int], list[Totals]] = {}
    for row in rows:
        buckets.setdefault((row["time"], row["project_id"]), []).append(row)
    names = {project.pk: project.name for project in query.projects}
    points = []
    for (moment, project_id), group in sorted(buckets.items(), key=lambda item: item[0]):
        actual, expected = _mix(group), references[project_id]
        nonfallback = sum(row["nonfallback_attempts"] for row in group)
        conforming = sum(row["conforming_attempts"] for row in group)
        value = psi(actual, expected) if actual and expected else None
        points.append(
            {
                "time": moment.astimezone(UTC).isoformat(),
                "project": names[project_id],
                "psi": value,
                "status": psi_status(value),
                "conformance": rate(conforming, nonfallback) if project_id in banded else None,
                "nonfallback_attempts": int(nonfallback),
            }
        )
    return points

"""The architecture comparison (DESIGN.md "Architecture comparison and advice"): a row per
mode with requests in the window, each figure the one the summary gives with `mode=` that
mode (`summary_of` computes both), the article's reference and where each figure lies.

Two grouped reads of the rollups serve every mode (attempts by mode and model, requests by
mode and project), plus the window's model incidents and one walk of the version rollups for
the rollouts of every mode: the number of reads does not grow with the number of modes.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from analytics.metrics.incidents import NO_MIGRATIONS, migration_times_by_mode
from analytics.metrics.query import (
    MODES,
    UNKNOWN_MODE,
    MetricsQuery,
    Totals,
    rate,
    rollup_totals,
    totals_sum,
)
from analytics.metrics.reference import positions
from analytics.metrics.results import (
    CompareRow,
    Comparison,
    MigrationTimes,
    ModeCost,
    ModeLatency,
    ModelShare,
    ModeObservability,
    ModeReliability,
    ModeSecurity,
    ModeTraffic,
    RolloutsSummary,
    Summary,
)
from analytics.metrics.rollouts import rollouts_by_mode
from analytics.metrics.rollouts import summary_of as rollouts_summary_of
from analytics.metrics.summary import summary_of
from analytics.rollups.families import ATTEMPTS, REQUESTS
from governance.models import Project


def metrics_compare(query: MetricsQuery, *, rollouts: bool = True) -> Comparison:
    """A row per mode that has requests in the query's window (routing_first,
    enforcement_first, hybrid, then unknown: requests whose mode no event told). Without
    `rollouts` the rows' maintainability is not read (None): the walk of the version rollups
    is the comparison's dearest read, and advice judges no maintainability figure."""
    attempts_by_mode: dict[str, list[Totals]] = {}
    for row in rollup_totals(ATTEMPTS, query, ("mode", "model")):
        attempts_by_mode.setdefault(row["mode"], []).append(row)
    requests_by_mode: dict[str, list[Totals]] = {}
    for row in rollup_totals(REQUESTS, query, ("mode", "project_id")):
        requests_by_mode.setdefault(row["mode"], []).append(row)
    migrations = migration_times_by_mode(query)
    by_mode = rollouts_by_mode(query) if rollouts else None
    rows = []
    for mode in (*MODES, ""):
        requests = requests_by_mode.get(mode, [])
        if not sum(int(row["requests"]) for row in requests):
            continue
        rows.append(
            _row(
                mode or UNKNOWN_MODE,
                attempts_by_mode.get(mode, []),
                requests,
                query.projects,
                migrations.get(mode, NO_MIGRATIONS),
                None if by_mode is None else rollouts_summary_of(by_mode.get(mode, [])),
            )
        )
    return Comparison(rows=tuple(rows))


def _row(
    mode: str,
    by_model: list[Totals],
    by_project: list[Totals],
    projects: Iterable[Project],
    migration: MigrationTimes,
    maintainability: RolloutsSummary | None,
) -> CompareRow:
    """One mode's row from its attempts per model and its requests per project."""
    settings = {project.pk: project for project in projects}
    attempts = totals_sum(ATTEMPTS, by_model)
    requests = totals_sum(REQUESTS, by_project)
    summary = summary_of(attempts, by_project, settings.values())
    escaped_cost = sum(
        (row["escaped"] * settings[row["project_id"]].incident_cost_usd for row in by_project),
        Decimal(0),
    )
    routing_savings_share = _share(summary.routing_savings_usd, summary.baseline_cost_usd)
    measured = {
        "latency_p50_ms": summary.latency_ms.p50,
        "latency_p95_ms": summary.latency_ms.p95,
        "latency_p99_ms": summary.latency_ms.p99,
        "error_rate": summary.error_rate,
        "violation_rate": summary.violation_rate,
        "availability": summary.availability,
        "migration_time_s": migration.median_s,
        "savings_share": _savings_share(mode, summary, escaped_cost, routing_savings_share),
    }
    reference, position = positions(mode, measured)
    return CompareRow(
        mode=mode,
        traffic=ModeTraffic(
            requests=summary.requests,
            attempts=summary.attempts,
            model_shares=_model_shares(by_model, summary.attempts),
            fallback_share=rate(attempts["fallbacks"], attempts["attempts"]),
            routing_latency_ms=summary.routing_latency_ms,
        ),
        latency=ModeLatency(
            latency_ms=summary.latency_ms,
            overhead_ms=summary.overhead_ms,
            end_to_end_ms=summary.end_to_end_ms,
        ),
        cost=ModeCost(
            cost_usd=summary.cost_usd,
            cost_per_1k_requests_usd=summary.cost_per_1k_requests_usd,
            baseline_cost_usd=summary.baseline_cost_usd,
            routing_savings_usd=summary.routing_savings_usd,
            routing_savings_share=routing_savings_share,
            enforcement_cost_usd=summary.enforcement_cost_usd,
            enforcement_cost_per_1k_requests_usd=summary.enforcement_cost_per_1k_requests_usd,
            roi=summary.roi,
            savings_multiple=summary.savings_multiple,
        ),
        security=ModeSecurity(
            interception_rate=summary.interception_rate,
            violation_rate=summary.violation_rate,
            detected_violation_rate=summary.detected_violation_rate,
            catch_rate=summary.catch_rate,
            false_positive_rate=summary.false_positive_rate,
            checks_per_request=rate(requests["checks"], requests["requests"]),
            layers_per_request=rate(requests["layers_seen"], requests["with_checks"]),
        ),
        reliability=ModeReliability(
            error_rate=summary.error_rate,
            availability=summary.availability,
            migration_time_s=migration,
        ),
        observability=ModeObservability(
            events_per_request=rate(
                attempts["attempts"] + requests["checks"], requests["requests"]
            ),
        ),
        maintainability=maintainability,
        reference=reference,
        position=position,
    )


def _model_shares(by_model: list[Totals], attempts: int) -> tuple[ModelShare, ...]:
    """Each model's share of the mode's attempts, the most used first."""
    counts: dict[str, int] = {}
    for row in by_model:
        counts[row["model"]] = counts.get(row["model"], 0) + int(row["attempts"])
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(
        ModelShare(model=model, share=share)
        for model, count in ordered
        if (share := rate(count, attempts)) is not None
    )


def _share(part: Decimal, whole: Decimal) -> float | None:
    return rate(float(part), float(whole))


def _savings_share(
    mode: str, summary: Summary, escaped_cost: Decimal, routing_share: float | None
) -> float | None:
    """The share the article's savings figure of the mode speaks of (analytics.metrics.
    reference): routing savings of the baseline cost, error-cost savings of the error cost
    met, or both of the two costs together."""
    error_cost_met = summary.error_cost_savings_usd + escaped_cost
    if mode == "routing_first":
        return routing_share
    if mode == "enforcement_first":
        return _share(summary.error_cost_savings_usd, error_cost_met)
    if mode == "hybrid":
        return _share(
            summary.routing_savings_usd + summary.error_cost_savings_usd,
            summary.baseline_cost_usd + error_cost_met,
        )
    return None

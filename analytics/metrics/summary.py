"""The summary (DESIGN.md "Metric definitions"): every headline figure for a query, and the
repricing jobs still moving its money figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from analytics.metrics.query import (
    MetricsQuery,
    Totals,
    checks_cost,
    cost_per_1k,
    family_totals,
    latency,
    money,
    rate,
    rollup_totals,
    totals_sum,
)
from analytics.metrics.results import (
    ALL_PERCENTILES,
    OVERHEAD_PERCENTILES,
    RepricingProgress,
    Summary,
)
from analytics.models import Repricing, RepricingState
from analytics.rollups.families import ATTEMPTS, REQUESTS
from governance.models import Project
from governance.pricing import usd_of


@dataclass(frozen=True, slots=True)
class _Returns:
    """What enforcement cost and what routing and caught errors saved, in USD."""

    enforcement_cost: Decimal
    baseline: Decimal
    routing_savings: Decimal
    error_cost_savings: Decimal

    def ratio(self, *, net: bool) -> float | None:
        """Savings (less enforcement cost when `net`: the ROI) per dollar of enforcement."""
        if not self.enforcement_cost:
            return None
        gains = self.routing_savings + self.error_cost_savings
        gains -= self.enforcement_cost if net else Decimal(0)
        return float(round(gains / self.enforcement_cost, 6))


def _enforcement_cost(
    per_project: Mapping[int, Totals], settings: Mapping[int, Project]
) -> Decimal:
    """Enforcement cost in USD (unrounded): interceptions and corrections of these
    per-project request totals at each project's unit costs, plus their checks' own cost."""
    return checks_cost(per_project.values(), settings) + sum(
        (
            row["intercepted"] * settings[project_id].interception_cost_usd
            + row["modified"] * settings[project_id].correction_cost_usd
            for project_id, row in per_project.items()
        ),
        Decimal(0),
    )


def _returns(
    attempts: Totals,
    per_project: Mapping[int, Totals],
    settings: Mapping[int, Project],
) -> _Returns:
    """Enforcement cost (with the checks' own cost) and savings at each project's unit
    costs."""
    error_cost_savings = sum(
        (
            row["caught"] * settings[project_id].incident_cost_usd
            for project_id, row in per_project.items()
        ),
        Decimal(0),
    )
    baseline = usd_of(attempts["baseline_cost_usd"])
    return _Returns(
        enforcement_cost=_enforcement_cost(per_project, settings),
        baseline=baseline,
        routing_savings=baseline - usd_of(attempts["baseline_actual_cost_usd"]),
        error_cost_savings=error_cost_savings,
    )


def metrics_summary(query: MetricsQuery) -> Summary:
    """Every headline figure of DESIGN.md's summary for the query."""
    attempts = family_totals(ATTEMPTS, query)
    per_project = rollup_totals(REQUESTS, query, ("project_id",))
    # The checks' own cost is that of the window's requests' checks (request rollups), as
    # their interceptions are: exact under a mode filter (a check's mode is its request's),
    # and the modes' figures add up to the whole. A policy filter leaves it whole, as it
    # leaves the requests whose interceptions it is added to.
    return summary_of(attempts, per_project, query.projects)


def summary_of(
    attempts: Totals,
    per_project: Iterable[Totals],
    projects: Iterable[Project],
) -> Summary:
    """The summary of these attempt totals and per-project request totals (whose checks'
    own cost they carry), at the projects' unit costs: one computation for the summary and
    each mode of the comparison."""
    by_project = {int(row["project_id"]): row for row in per_project}
    requests = totals_sum(REQUESTS, by_project.values())
    settings = {project.pk: project for project in projects}
    returns = _returns(attempts, by_project, settings)
    return Summary(
        requests=int(requests["requests"]),
        attempts=int(attempts["attempts"]),
        error_rate=rate(attempts["errors"], attempts["attempts"]),
        availability=rate(requests["served"], requests["with_attempt"]),
        latency_ms=latency(
            attempts["latency_sketch"],
            attempts["latency_sum_ms"],
            attempts["attempts"],
            ALL_PERCENTILES,
        ),
        routing_latency_ms=latency(
            attempts["routing_latency_sketch"],
            attempts["routing_latency_sum_ms"],
            attempts["routing_latency_count"],
            ALL_PERCENTILES,
        ),
        overhead_ms=latency(requests["overhead_sketch"], None, 0, OVERHEAD_PERCENTILES),
        end_to_end_ms=latency(requests["end_to_end_sketch"], None, 0, OVERHEAD_PERCENTILES),
        cost_usd=money(attempts["cost_usd"]),
        cost_per_1k_requests_usd=cost_per_1k(attempts["cost_usd"], requests["requests"]),
        unpriced_attempts=int(attempts["unpriced_attempts"]),
        input_tokens=int(attempts["input_tokens"]),
        output_tokens=int(attempts["output_tokens"]),
        interception_rate=rate(requests["intercepted"], requests["requests"]),
        block_rate=rate(requests["blocked"], requests["requests"]),
        modify_rate=rate(requests["modified"], requests["requests"]),
        violation_rate=rate(requests["escaped"], requests["requests"]),
        detected_violation_rate=rate(requests["violation_detected"], requests["requests"]),
        catch_rate=rate(requests["caught"], requests["violation_detected"]),
        false_positive_rate=rate(requests["false_positive"], requests["intercepted"]),
        enforcement_cost_usd=money(returns.enforcement_cost),
        enforcement_cost_per_1k_requests_usd=cost_per_1k(
            returns.enforcement_cost, requests["requests"]
        ),
        baseline_cost_usd=money(returns.baseline),
        routing_savings_usd=money(returns.routing_savings),
        error_cost_savings_usd=money(returns.error_cost_savings),
        roi=returns.ratio(net=True),
        savings_multiple=returns.ratio(net=False),
    )


def repricings_in_progress(project_ids: list[int]) -> list[RepricingProgress]:
    """Unfinished repricing jobs of these projects, oldest first, with their progress 0..1
    (so a figure that mixes old and new prices never does so silently)."""
    jobs = Repricing.objects.filter(
        project_id__in=project_ids, state__in=[RepricingState.QUEUED, RepricingState.RUNNING]
    ).select_related("project")
    return [
        RepricingProgress(
            project=job.project.name, reason=job.reason, progress=round(job.progress, 4)
        )
        for job in jobs.order_by("created_at")
    ]

"""The metric and budget results as the API answers them in JSON (and, flattened, in CSV): the
one place a result becomes a dict. Money is its decimal string with six places, as it always
was."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from analytics.metrics.advice import Advice
from analytics.metrics.budgets import BudgetStatus
from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import (
    ALL_PERCENTILES,
    CHECK_PERCENTILES,
    OVERHEAD_PERCENTILES,
    CompareRow,
    Drift,
    Latency,
    LayerRow,
    ModelRow,
    PolicyRow,
    Rollout,
    SeriesPoint,
    SeriesValue,
    SpendRow,
    Summary,
)
from analytics.metrics.summary import repricings_in_progress
from governance.models import PROFILE_QUESTIONS

Answer = dict[str, Any]


def money_text(value: Decimal | None) -> str | None:
    """Money as JSON carries it: the decimal string (None stays null)."""
    return None if value is None else str(value)


def window_answer(query: MetricsQuery) -> Answer:
    """The window and filters an answer used, and any repricing still moving its money
    figures (so a figure that mixes old and new prices never does so silently)."""
    return {
        "from": query.window.start.isoformat(),
        "to": query.window.end.isoformat(),
        "filters": query.applied,
        "repricing": [
            {"project": job.project, "reason": job.reason, "progress": job.progress}
            for job in repricings_in_progress(query.project_ids)
        ],
    }


def latency_answer(latency: Latency, names: tuple[str, ...], *, mean: bool) -> Answer:
    """The named percentiles, in order, then the mean when the figure keeps one."""
    answer: Answer = {name: getattr(latency, name) for name in names}
    if mean:
        answer["mean"] = latency.mean
    return answer


def summary_answer(summary: Summary, query: MetricsQuery) -> Answer:
    """/metrics/summary: the window, then every headline figure."""
    return {
        "window": window_answer(query),
        "requests": summary.requests,
        "attempts": summary.attempts,
        "error_rate": summary.error_rate,
        "availability": summary.availability,
        "latency_ms": latency_answer(summary.latency_ms, ALL_PERCENTILES, mean=True),
        "routing_latency_ms": latency_answer(
            summary.routing_latency_ms, ALL_PERCENTILES, mean=True
        ),
        "overhead_ms": latency_answer(summary.overhead_ms, OVERHEAD_PERCENTILES, mean=False),
        "end_to_end_ms": latency_answer(summary.end_to_end_ms, OVERHEAD_PERCENTILES, mean=False),
        "cost_usd": money_text(summary.cost_usd),
        "cost_per_1k_requests_usd": money_text(summary.cost_per_1k_requests_usd),
        "unpriced_attempts": summary.unpriced_attempts,
        "tokens": {"input": summary.input_tokens, "output": summary.output_tokens},
        "interception_rate": summary.interception_rate,
        "block_rate": summary.block_rate,
        "modify_rate": summary.modify_rate,
        "violation_rate": summary.violation_rate,
        "detected_violation_rate": summary.detected_violation_rate,
        "catch_rate": summary.catch_rate,
        "false_positive_rate": summary.false_positive_rate,
        "enforcement_cost_usd": money_text(summary.enforcement_cost_usd),
        "enforcement_cost_per_1k_requests_usd": money_text(
            summary.enforcement_cost_per_1k_requests_usd
        ),
        "baseline_cost_usd": money_text(summary.baseline_cost_usd),
        "routing_savings_usd": money_text(summary.routing_savings_usd),
        "error_cost_savings_usd": money_text(summary.error_cost_savings_usd),
        "roi": summary.roi,
        "savings_multiple": summary.savings_multiple,
    }


def model_answer(row: ModelRow) -> Answer:
    """A row of /metrics/models."""
    return {
        "model": row.model,
        "provider": row.provider,
        "attempts": row.attempts,
        "share": row.share,
        "cost_usd": money_text(row.cost_usd),
        "unpriced_attempts": row.unpriced_attempts,
        "latency_ms": latency_answer(row.latency_ms, ALL_PERCENTILES, mean=True),
        "error_rate": row.error_rate,
    }


def spend_answer(row: SpendRow, *, by: str) -> Answer:
    """A spend row, its name under the group's key (`project`, `service` or `model`)."""
    return {
        by: row.name,
        "attempts": row.attempts,
        "requests": row.requests,
        "cost_usd": money_text(row.cost_usd),
        "cost_per_1k_requests_usd": money_text(row.cost_per_1k_requests_usd),
        "unpriced_attempts": row.unpriced_attempts,
    }


def layer_answer(row: LayerRow) -> Answer:
    """A row of /metrics/layers."""
    return {
        "layer": row.layer,
        "checks": row.checks,
        "blocks": row.blocks,
        "modifies": row.modifies,
        "interception_rate": row.interception_rate,
        "check_latency_ms": latency_answer(row.check_latency_ms, CHECK_PERCENTILES, mean=False),
    }


def policy_answer(row: PolicyRow) -> Answer:
    """A row of /metrics/policies."""
    return {
        "policy": row.policy,
        "layer": row.layer,
        "checks": row.checks,
        "blocks": row.blocks,
        "modifies": row.modifies,
        "flags": row.flags,
        "interception_rate": row.interception_rate,
        "false_positives": row.false_positives,
        "check_latency_ms": latency_answer(row.check_latency_ms, CHECK_PERCENTILES, mean=False),
        "check_cost_usd": money_text(row.check_cost_usd),
    }


def series_value(value: SeriesValue) -> Any:
    """A point's value: money as its decimal string, anything else as it is."""
    return str(value) if isinstance(value, Decimal) else value


def point_answer(point: SeriesPoint, *, grouped: bool) -> Answer:
    """A row of /metrics/timeseries (with its group when the series is grouped)."""
    answer: Answer = {"time": point.time.isoformat()}
    if grouped:
        answer["group"] = point.group
    answer["value"] = series_value(point.value)
    return answer


def drift_answer(drift: Drift) -> Answer:
    """A row of /drift, with its model mix."""
    return {
        "project": drift.project,
        "psi": drift.psi,
        "status": drift.status,
        "reference": drift.reference,
        "conformance": drift.conformance,
        "nonfallback_attempts": drift.nonfallback_attempts,
        "mix": [
            {"model": share.model, "share": share.share, "expected_share": share.expected_share}
            for share in drift.mix
        ],
    }


def rollout_answer(rollout: Rollout) -> Answer:
    """A row of /rollouts."""
    return {
        "project": rollout.project,
        "component": rollout.component,
        "version": rollout.version,
        "from_version": rollout.from_version,
        "started_at": rollout.started_at.isoformat(),
        "propagation_s": rollout.propagation_s,
        "mixed_version_share": rollout.mixed_version_share,
        "events": rollout.events,
    }


def budget_answer(burn: BudgetStatus) -> Answer:
    """A row of /budgets: the budget, its period, and its money to six places."""
    budget = burn.budget
    return {
        "id": budget.pk,
        "name": budget.name,
        "project": budget.project.name if budget.project else None,
        "scope": budget.scope_label,
        "period": budget.period,
        "period_start": burn.period_start.isoformat(),
        "period_end": burn.period_end.isoformat(),
        "amount_usd": f"{budget.amount_usd:.6f}",
        "spent_usd": f"{burn.spent:.6f}",
        "run_rate_usd_per_day": f"{burn.run_rate_per_day:.6f}",
        "forecast_usd": f"{burn.forecast:.6f}",
        "percent": round(burn.percent, 4),
        "status": burn.status,
        "thresholds": budget.thresholds,
        "thresholds_crossed": burn.crossed,
    }


ROUTING_PERCENTILES = ("p50", "p95")


def compare_row_answer(row: CompareRow) -> Answer:
    """A row of /compare: the mode, its figures by group, its reference and positions."""
    traffic, latency, cost = row.traffic, row.latency, row.cost
    security, reliability = row.security, row.reliability
    migration = reliability.migration_time_s
    return {
        "mode": row.mode,
        "traffic": {
            "requests": traffic.requests,
            "attempts": traffic.attempts,
            "model_shares": {share.model: share.share for share in traffic.model_shares},
            "fallback_share": traffic.fallback_share,
            "routing_latency_ms": latency_answer(
                traffic.routing_latency_ms, ROUTING_PERCENTILES, mean=False
            ),
        },
        "latency": {
            "latency_ms": latency_answer(latency.latency_ms, OVERHEAD_PERCENTILES, mean=False),
            "overhead_ms": latency_answer(latency.overhead_ms, OVERHEAD_PERCENTILES, mean=False),
            "end_to_end_ms": latency_answer(
                latency.end_to_end_ms, OVERHEAD_PERCENTILES, mean=False
            ),
        },
        "cost": {
            "cost_usd": money_text(cost.cost_usd),
            "cost_per_1k_requests_usd": money_text(cost.cost_per_1k_requests_usd),
            "baseline_cost_usd": money_text(cost.baseline_cost_usd),
            "routing_savings_usd": money_text(cost.routing_savings_usd),
            "routing_savings_share": cost.routing_savings_share,
            "enforcement_cost_usd": money_text(cost.enforcement_cost_usd),
            "enforcement_cost_per_1k_requests_usd": money_text(
                cost.enforcement_cost_per_1k_requests_usd
            ),
            "roi": cost.roi,
            "savings_multiple": cost.savings_multiple,
        },
        "security": {
            "interception_rate": security.interception_rate,
            "violation_rate": security.violation_rate,
            "detected_violation_rate": security.detected_violation_rate,
            "catch_rate": security.catch_rate,
            "false_positive_rate": security.false_positive_rate,
            "checks_per_request": security.checks_per_request,
            "layers_per_request": security.layers_per_request,
        },
        "reliability": {
            "error_rate": reliability.error_rate,
            "availability": reliability.availability,
            "migration_time_s": {
                "count": migration.count,
                "median": migration.median_s,
                "max": migration.max_s,
            },
        },
        "observability": {"events_per_request": row.observability.events_per_request},
        "maintainability": None
        if row.maintainability is None
        else {
            "rollouts": row.maintainability.rollouts,
            "propagation_s": {
                "median": row.maintainability.propagation_s.median,
                "max": row.maintainability.propagation_s.max,
            },
            "mixed_version_share": row.maintainability.mixed_version_share,
        },
        "reference": {
            ref.figure: ref.low if ref.single else {"low": ref.low, "high": ref.high}
            for ref in row.reference
        },
        "position": {
            figure.figure: {"value": figure.value, "position": figure.position}
            for figure in row.position
        },
    }


def advice_answer(advice: Advice, query: MetricsQuery) -> Answer:
    """/advice: the profile (every question, null when unanswered; null without a profile),
    the recommendation and why, what the window's traffic measures (the measured mode's
    /compare row beside the mode and the layers seen; null without requests) and the
    findings that hold."""
    recommendation, measured = advice.recommendation, advice.measured
    layers = recommendation.recommended_layers
    profile = advice.profile
    return {
        "project": advice.project.name,
        "window": window_answer(query),
        "profile": None
        if profile is None
        else {question: profile.get(question) for question in PROFILE_QUESTIONS},
        "votes": recommendation.votes,
        "recommended_mode": recommendation.recommended_mode,
        "recommended_layers": None if layers is None else layers.label,
        "reasons": [
            {"question": reason.question, "answer": reason.answer, "vote": reason.vote}
            for reason in recommendation.reasons
        ],
        "override": recommendation.override,
        "measured": None
        if measured is None
        else {
            "mode": measured.mode,
            "layers_seen": measured.layers_seen,
            **{
                name: value
                for name, value in compare_row_answer(measured.row).items()
                if name != "mode"
            },
        },
        "findings": [
            {"code": finding.code, "message": finding.message} for finding in advice.findings
        ],
    }

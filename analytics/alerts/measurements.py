"""What an alert rule sees now: one measurement per scope, from the live figures.

A model_failure rule measures each model with traffic in its window; routing drift, rollup
mismatches, advice's findings (architecture_mismatch) and the summary's rates, latency and
spend measure the rule's one scope; an over_interception rule scoped to a policy measures
that policy's checks. When a model incident resolves, its traffic migration time is read from
the raw events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics.alerts.wording import percent
from analytics.formatting import usd
from analytics.metrics.advice import project_advice
from analytics.metrics.breakdowns import metrics_models, metrics_policies
from analytics.metrics.budgets import scope_query, spend
from analytics.metrics.drift import metrics_drift
from analytics.metrics.query import MetricsQuery
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from analytics.models import Alert, AlertState
from analytics.rollups.reconcile import mismatches_open
from governance.models import (
    ADVICE_FINDINGS,
    DEFAULT_CONFORMANCE_MIN,
    NO_PROFILE,
    AlertKind,
    AlertRule,
    ScopeKind,
    policy_scope_problem,
)
from ingestion.selectors import model_failover


@dataclass(frozen=True)
class Measurement:
    """One scope's figure as a rule judges it: its value, whether it breaches the line."""

    scope: str
    value: float | None
    breached: bool
    judged: bool  # False below the rule's minimum request count: no state change
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _query(rule: AlertRule, now: datetime) -> MetricsQuery:
    return scope_query(rule, Window.of(now - timedelta(minutes=rule.window_minutes), now))


def rule_measurements(rule: AlertRule, now: datetime) -> Iterator[Measurement]:
    """What the rule sees now, per scope."""
    threshold = rule.effective_threshold  # Decimal: a cost ceiling is judged as money
    # Rates, PSI, latencies and hour counts are measured as floats: the one conversion.
    limit = float(threshold)
    scope = rule.scope_label
    window = f"the last {rule.window_minutes} min"
    if rule.kind == AlertKind.ARCHITECTURE_MISMATCH:
        yield _architecture_mismatch(rule, now, limit, scope, window)
        return
    if rule.kind == AlertKind.MODEL_FAILURE:
        yield from _model_failures(rule, now, limit)
        return
    if rule.kind == AlertKind.ROUTING_DRIFT:
        yield _drift(rule, now, limit, scope)
        return
    if rule.kind == AlertKind.ROLLUP_MISMATCH:
        yield _rollup_mismatch(rule, limit, scope)
        return
    if rule.scope_kind == ScopeKind.POLICY:
        yield _policy_interception(rule, now, limit, scope, window)
        return
    summary = metrics_summary(_query(rule, now))
    requests, attempts = summary.requests, summary.attempts
    if rule.kind == AlertKind.OVER_INTERCEPTION:
        value, count, what = summary.interception_rate, requests, "interception rate"
        text = f"{what} {percent(value)} over {window} (threshold {percent(limit)})"
        over = value is not None and value > limit
    elif rule.kind == AlertKind.ERROR_RATE:
        value, count, what = summary.error_rate, attempts, "error rate"
        text = f"{what} {percent(value)} over {window} (threshold {percent(limit)})"
        over = value is not None and value > limit
    elif rule.kind == AlertKind.LATENCY_SLO:
        value, count = summary.latency_ms.p95, attempts
        text = f"P95 latency {value} ms over {window} (SLO {limit:g} ms)"
        over = value is not None and value > limit
    else:  # cost_overrun: spend within the window against a ceiling in USD, Decimal to Decimal
        # The exact spend (1e-8 USD), not the summary's six-place string: a ceiling is exact.
        spent = spend(rule, now - timedelta(minutes=rule.window_minutes), now)
        value, count = float(spent), max(requests, attempts)
        text = f"spend {usd(spent)} over {window} (ceiling {usd(threshold)})"
        over = spent > threshold
    # Spend is judged whatever the traffic: no requests is a spend of $0, not a lack of data.
    judged = value is not None and (
        rule.kind == AlertKind.COST_OVERRUN or count >= rule.min_requests
    )
    yield Measurement(
        scope=scope,
        value=value,
        breached=judged and over,
        judged=judged,
        summary=text if judged else f"{count} requests over {window}: below {rule.min_requests}",
        details={"requests": requests, "attempts": attempts},
    )


def _policy_interception(
    rule: AlertRule, now: datetime, threshold: float, scope: str, window: str
) -> Measurement:
    """A policy's (blocks + modifies) / checks over the rule's window, judged from
    `min_requests` checks (a policy has checks, not requests)."""
    problem = policy_scope_problem(rule.kind, rule.scope_kind)
    if problem:  # a rule saved around the validation: say so rather than measure the project
        return Measurement(scope=scope, value=None, breached=False, judged=False, summary=problem)
    rows = metrics_policies(_query(rule, now))
    checks = sum(row.checks for row in rows)
    value = rows[0].interception_rate if rows else None  # the filter leaves the one policy
    judged = value is not None and checks >= rule.min_requests
    text = (
        f"{rule.scope_name} interception rate {percent(value)} over {window} "
        f"(threshold {percent(threshold)})"
    )
    return Measurement(
        scope=scope,
        value=value,
        breached=judged and value is not None and value > threshold,
        judged=judged,
        summary=text if judged else f"{checks} checks over {window}: below {rule.min_requests}",
        details={"checks": checks},
    )


def _drift(rule: AlertRule, now: datetime, threshold: float, scope: str) -> Measurement:
    (drift,) = metrics_drift(_query(rule, now))
    conformance_min = (
        rule.conformance_min if rule.conformance_min is not None else DEFAULT_CONFORMANCE_MIN
    )
    psi, conformance = drift.psi, drift.conformance
    judged = drift.nonfallback_attempts >= rule.min_requests and psi is not None
    breached = (
        judged
        and psi is not None
        and (psi > threshold or (conformance is not None and conformance < conformance_min))
    )
    text = (
        f"PSI {psi} against {drift.reference.replace('_', ' ')} (threshold {threshold:g}), "
        f"conformance {percent(conformance)} (minimum {percent(conformance_min)})"
    )
    return Measurement(
        scope=scope,
        value=psi,
        breached=breached,
        judged=judged,
        summary=text,
        details={"conformance": conformance, "mix": [asdict(share) for share in drift.mix]},
    )


def _architecture_mismatch(
    rule: AlertRule, now: datetime, threshold: float, scope: str, window: str
) -> Measurement:
    """The project's advice over the rule's window (analytics.metrics.advice): the value is
    the number of the rule's findings that hold (none named: any finding but no_profile),
    judged from `min_requests` of the window's requests; the summary and the details carry
    the findings' messages, so the mail says what is wrong."""
    problem = policy_scope_problem(rule.kind, rule.scope_kind)
    if problem:  # a rule saved around the validation: say so rather than judge a part
        return Measurement(scope=scope, value=None, breached=False, judged=False, summary=problem)
    advice = project_advice(_query(rule, now), rule.project, rollouts=False)
    codes = rule.findings or [code for code in ADVICE_FINDINGS if code != NO_PROFILE]
    holding = advice.holding(codes)
    count = len(holding)
    judged = advice.requests >= rule.min_requests
    if not judged:
        text = f"{advice.requests} requests over {window}: below {rule.min_requests}"
    elif holding:
        text = "; ".join(finding.message for finding in holding)
    else:
        text = f"the traffic matches the profile's advice over {window}"
    measured = advice.measured
    return Measurement(
        scope=scope,
        value=float(count),
        breached=judged and count > threshold,
        judged=judged,
        summary=text,
        details={
            "requests": advice.requests,
            "findings": [{"code": finding.code, "message": finding.message} for finding in holding],
            "recommended_mode": advice.recommendation.recommended_mode,
            "measured_mode": None if measured is None else measured.mode,
        },
    )


def _rollup_mismatch(rule: AlertRule, threshold: float, scope: str) -> Measurement:
    """The project's hours whose rollups the reconciliation found differing from their raw
    events and that are still open (analytics.rollups.reconcile): the value is their number, judged
    whatever the traffic (the window and minimum request count do not apply), so with the
    default threshold of 0 the rule fires at the first such hour and resolves when a check or
    a rebuild has closed the last one."""
    hours = [mismatch.hour for mismatch in mismatches_open(project_id=rule.project_id)]
    count = len(hours)
    if hours:
        shown = ", ".join(f"{hour:%Y-%m-%d %H:00}" for hour in hours[:3])
        text = (
            f"{count} hour{'s' * (count != 1)} whose rollups differ from the raw events "
            f"({shown}{', ...' if count > 3 else ''} UTC); repair with manage.py rollups_rebuild"
        )
    else:
        text = "rollups agree with the raw events"
    return Measurement(
        scope=scope,
        value=float(count),
        breached=count > threshold,
        judged=True,
        summary=text,
        details={"hours": [hour.isoformat() for hour in hours[:24]]},
    )


def _model_failures(rule: AlertRule, now: datetime, threshold: float) -> Iterator[Measurement]:
    """One measurement per model with traffic in the window (or the rule's one model)."""
    seen = set()
    for row in metrics_models(_query(rule, now)):
        seen.add(row.model)
        judged = row.attempts >= rule.min_requests
        rate = row.error_rate
        yield Measurement(
            scope=f"model:{row.model}",
            value=rate,
            breached=judged and rate is not None and rate > threshold,
            judged=judged,
            summary=f"{row.model} error rate {percent(rate)} over the last "
            f"{rule.window_minutes} min (threshold {percent(threshold)})",
            details={"attempts": row.attempts},
        )
    # A model whose traffic stopped entirely has recovered as far as this rule can tell.
    for alert in Alert.objects.filter(rule=rule).exclude(state=AlertState.RESOLVED):
        if alert.scope.removeprefix("model:") not in seen:
            yield Measurement(
                scope=alert.scope,
                value=None,
                breached=False,
                judged=True,
                summary=f"{alert.scope.removeprefix('model:')} has no traffic left in the window",
            )


def migration_time(alert: Alert, rule: AlertRule, now: datetime) -> dict[str, Any]:
    """Traffic migration time of a model incident (DESIGN.md): from the model's first failed
    attempt of the incident to the first minute its traffic was served by fallbacks with an
    error rate back under the threshold. Read from raw events of the incident's span only."""
    model = alert.scope.removeprefix("model:")
    since = (alert.pending_since or now) - timedelta(minutes=rule.window_minutes)
    failover = model_failover(
        project_id=rule.project_id,
        model=model,
        since=since,
        until=now,
        error_rate_below=rule.effective_threshold,
    )
    first_failure, migrated = failover.first_failure_at, failover.migrated_at
    if first_failure is None:
        return {"migration_seconds": None, "first_failure_at": None}
    # Not migrated (yet): the first failure is known all the same.
    seconds = None if migrated is None else max(0.0, (migrated - first_failure).total_seconds())
    return {"migration_seconds": seconds, "first_failure_at": first_failure.isoformat()}

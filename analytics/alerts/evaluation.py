"""Alert evaluation: rules and budgets judged on the live figures, every minute.

Each rule yields one measurement per scope (a model_failure rule: one per model). An alert
moves pending -> firing -> resolved; notifications are queued in the same transaction as the
move (analytics.delivery.outbox). Every judgement is kept in AlertEvaluation for audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from analytics.delivery.outbox import dashboard_url, notify, recipients_for
from analytics.formatting import usd
from analytics.metrics.breakdowns import metrics_models
from analytics.metrics.budgets import SpendLedger, SpendOf, budget_status, scope_query, spend
from analytics.metrics.drift import metrics_drift
from analytics.metrics.query import MetricsQuery
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window
from analytics.models import Alert, AlertEvaluation, AlertState, BudgetNotice
from analytics.rollups.reconcile import mismatches_open
from governance.models import (
    DEFAULT_CONFORMANCE_MIN,
    AlertKind,
    AlertRule,
    Budget,
    Project,
    Role,
)

EVALUATION_LOCK_KEY = 0x746F6C6C_616C7274  # one evaluator at a time, whatever the workers
OPS_ROLES = (Role.OPS, Role.ADMIN)
FINANCE_ROLES = (Role.FINANCE, Role.ADMIN)


@dataclass(frozen=True)
class Measurement:
    scope: str
    value: float | None
    breached: bool
    judged: bool  # False below the rule's minimum request count: no state change
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluationRun:
    evaluated: int = 0
    transitions: list[str] = field(default_factory=list)
    notifications: int = 0
    skipped_locked: bool = False


def alerts_evaluate(*, now: datetime | None = None) -> EvaluationRun:
    """Judge every active rule and budget once, under an advisory lock."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    run = EvaluationRun()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [EVALUATION_LOCK_KEY])
            if not cursor.fetchone()[0]:
                run.skipped_locked = True
                return run
        rules = AlertRule.objects.filter(is_active=True).select_related("project__organization")
        for rule in rules:
            for measurement in rule_measurements(rule, now):
                _advance(rule, measurement, now, run)
                run.evaluated += 1
        budgets = list(
            Budget.objects.filter(is_active=True).select_related("organization", "project")
        )
        # One grouped read per distinct window serves every budget (no query per budget).
        organization_ids = {budget.organization_id for budget in budgets}
        ledger = SpendLedger(Project.objects.filter(organization_id__in=organization_ids))
        for budget in budgets:
            _budget_evaluate(budget, now, run, spend_of=ledger)
            run.evaluated += 1
    return run


# --- Measuring -----------------------------------------------------------------------------


def _query(rule: AlertRule, now: datetime) -> MetricsQuery:
    return scope_query(rule, Window.of(now - timedelta(minutes=rule.window_minutes), now))


def rule_measurements(rule: AlertRule, now: datetime) -> Iterator[Measurement]:
    """What the rule sees now, per scope."""
    threshold = rule.effective_threshold  # Decimal: a cost ceiling is judged as money
    # Rates, PSI, latencies and hour counts are measured as floats: the one conversion.
    limit = float(threshold)
    scope = rule.scope_label
    window = f"the last {rule.window_minutes} min"
    if rule.kind == AlertKind.MODEL_FAILURE:
        yield from _model_failures(rule, now, limit)
        return
    if rule.kind == AlertKind.ROUTING_DRIFT:
        yield _drift(rule, now, limit, scope)
        return
    if rule.kind == AlertKind.ROLLUP_MISMATCH:
        yield _rollup_mismatch(rule, limit, scope)
        return
    summary = metrics_summary(_query(rule, now))
    requests, attempts = summary.requests, summary.attempts
    if rule.kind == AlertKind.OVER_INTERCEPTION:
        value, count, what = summary.interception_rate, requests, "interception rate"
        text = f"{what} {_percent(value)} over {window} (threshold {_percent(limit)})"
        over = value is not None and value > limit
    elif rule.kind == AlertKind.ERROR_RATE:
        value, count, what = summary.error_rate, attempts, "error rate"
        text = f"{what} {_percent(value)} over {window} (threshold {_percent(limit)})"
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
        f"conformance {_percent(conformance)} (minimum {_percent(conformance_min)})"
    )
    return Measurement(
        scope=scope,
        value=psi,
        breached=breached,
        judged=judged,
        summary=text,
        details={"conformance": conformance, "mix": [asdict(share) for share in drift.mix]},
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
            summary=f"{row.model} error rate {_percent(rate)} over the last "
            f"{rule.window_minutes} min (threshold {_percent(threshold)})",
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


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


# --- The lifecycle ------------------------------------------------------------------------


def _advance(rule: AlertRule, seen: Measurement, now: datetime, run: EvaluationRun) -> None:
    alert = Alert.objects.select_for_update().filter(rule=rule, scope=seen.scope).first()
    before = alert.state if alert else ""
    event = None
    if seen.judged and seen.breached:
        if alert is None or alert.state == AlertState.RESOLVED:
            alert = alert or Alert(
                rule=rule,
                scope=seen.scope,
                project=rule.project,
                organization=rule.project.organization,
                kind=rule.kind,
            )
            _incident_open(alert, AlertState.PENDING, now)
        if alert.state == AlertState.PENDING and now - alert.pending_since >= timedelta(
            minutes=rule.for_minutes
        ):
            alert.state, alert.firing_since, event = AlertState.FIRING, now, "firing"
        elif alert.state == AlertState.FIRING and _repeat_due(alert, rule, now):
            event = "repeat"
    elif seen.judged and alert is not None and alert.state != AlertState.RESOLVED:
        was_firing = alert.state == AlertState.FIRING
        alert.state, alert.resolved_at = AlertState.RESOLVED, now
        if was_firing and rule.send_resolved:
            event = "resolved"
        if was_firing and rule.kind == AlertKind.MODEL_FAILURE:
            alert.details = {**alert.details, **_migration(alert, rule, now)}
    notifying = event is not None and not _silenced(alert, now)
    if alert is not None:
        # The alert keeps a float snapshot of the line it was judged against, for display.
        alert.severity, alert.threshold = rule.severity, float(rule.effective_threshold)
        alert.summary = seen.summary[:300]
        if seen.value is not None or not seen.judged:
            alert.value = seen.value
        alert.details = {**alert.details, **seen.details}
        if notifying:
            alert.last_notified_at = now
        alert.updated_at = now
        alert.save()
    _record(
        run,
        alert,
        before,
        now,
        seen.value,
        seen.breached,
        seen.summary,
        rule=rule,
        scope=seen.scope,
        label=f"{rule.name} {seen.scope}",
    )
    if notifying:
        run.notifications += _alert_notify(alert, rule, event, now)


def _incident_open(alert: Alert, state: str, now: datetime) -> None:
    """Start a new incident on an alert record: the marks of its last one are cleared."""
    alert.state, alert.pending_since = state, now
    alert.firing_since = now if state == AlertState.FIRING else None
    alert.resolved_at = alert.last_notified_at = None
    alert.acknowledged_at = alert.acknowledged_by = None
    alert.details = {}


def _record(
    run: EvaluationRun,
    alert: Alert | None,
    before: str,
    now: datetime,
    value: float | None,
    breached: bool,
    note: str,
    *,
    scope: str,
    label: str,
    rule: AlertRule | None = None,
    budget: Budget | None = None,
) -> None:
    """Keep the judgement for audit, and report a change of state."""
    after = alert.state if alert else ""
    AlertEvaluation.objects.create(
        rule=rule,
        budget=budget,
        scope=scope,
        alert=alert,
        evaluated_at=now,
        value=value,
        breached=breached,
        state_before=before,
        state_after=after,
        note=note[:300],
    )
    if before != after:
        run.transitions.append(f"{label}: {before or 'none'} -> {after}")


def _repeat_due(alert: Alert, rule: AlertRule, now: datetime) -> bool:
    if alert.acknowledged_at is not None:
        return False  # someone is on it: no reminders until it resolves
    last = alert.last_notified_at or alert.firing_since
    return now - last >= timedelta(minutes=rule.repeat_minutes)


def _silenced(alert: Alert, now: datetime) -> bool:
    return alert.silenced_until is not None and alert.silenced_until > now


def _migration(alert: Alert, rule: AlertRule, now: datetime) -> dict[str, Any]:
    """Traffic migration time of a model incident (DESIGN.md): from the model's first failed
    attempt of the incident to the first minute its traffic was served by fallbacks with an
    error rate back under the threshold. Read from raw events of the incident's span only."""
    model = alert.scope.removeprefix("model:")
    since = (alert.pending_since or now) - timedelta(minutes=rule.window_minutes)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH first_failure AS (
                SELECT min("timestamp") AS at FROM ingestion_routingevent
                WHERE project_id = %s AND model = %s AND status <> 'ok'
                  AND "timestamp" >= %s AND "timestamp" < %s
            ), fallback_minutes AS (
                SELECT date_trunc('minute', "timestamp", 'UTC') AS minute,
                       avg((status <> 'ok')::int) AS error_rate
                FROM ingestion_routingevent, first_failure
                WHERE project_id = %s AND fallback_from = %s
                  AND "timestamp" >= first_failure.at AND "timestamp" < %s
                GROUP BY 1
            )
            SELECT first_failure.at,
                   (SELECT min(minute) FROM fallback_minutes WHERE error_rate < %s)
            FROM first_failure
            """,
            [
                rule.project_id,
                model,
                since,
                now,
                rule.project_id,
                model,
                now,
                rule.effective_threshold,
            ],
        )
        first_failure, migrated = cursor.fetchone()
    if first_failure is None or migrated is None:
        return {"migration_seconds": None}
    seconds = max(0.0, (migrated - first_failure).total_seconds())
    return {"migration_seconds": seconds, "first_failure_at": first_failure.isoformat()}


def _alert_notify(alert: Alert, rule: AlertRule, event: str, now: datetime) -> int:
    return notify(
        organization=alert.organization,
        recipients=recipients_for(alert.organization, rule.recipients, OPS_ROLES),
        dedup_key=f"alert:{alert.pk}:{event}:{now.isoformat()}",  # one evaluation, one mail
        template="alert",
        context={
            "alert": alert,
            "rule": rule,
            "event": event,
            "project": rule.project,
            "since": alert.firing_since or alert.pending_since,
            "now": now,
            "url": dashboard_url(f"/dashboard/alerts/?alert={alert.pk}"),
            **crossing_shown(alert.kind, alert.value, alert.threshold),
        },
        alert=alert,
        now=now,
    )


RATE_KINDS = {AlertKind.OVER_INTERCEPTION, AlertKind.ERROR_RATE, AlertKind.MODEL_FAILURE}


def crossing_shown(
    kind: str, value: Decimal | float | None, threshold: Decimal | float | None
) -> dict[str, str]:
    """The value, the line it is judged against and how far past it, with units, for mail.
    Money is worked in Decimal (a float read as the decimal it prints as), the rest in float."""
    if value is None or threshold is None:
        return {"value_shown": "n/a", "threshold_shown": "n/a", "excess_shown": ""}
    if kind == AlertKind.COST_OVERRUN:
        money_value, money_threshold = Decimal(str(value)), Decimal(str(threshold))
        difference = money_value - money_threshold
        shown_value, shown_threshold = usd(money_value), usd(money_threshold)
        excess = ("+" if difference >= 0 else "-") + usd(abs(difference))
    else:
        number, line = float(value), float(threshold)
        shown_value, shown_threshold = _figure_shown(kind, number), _figure_shown(kind, line)
        if kind in RATE_KINDS:
            excess = f"{(number - line) * 100:+.2f} points"
        else:
            excess = ("+" if number >= line else "-") + _figure_shown(kind, abs(number - line))
    if threshold:
        excess += f", {float(value) / float(threshold):.1f}x the threshold"  # a ratio: a float
    return {
        "value_shown": shown_value,
        "threshold_shown": shown_threshold,
        "excess_shown": excess,
    }


def _figure_shown(kind: str, number: float) -> str:
    """A rate, a latency, an hour count or a PSI in its unit."""
    if kind in RATE_KINDS:
        return f"{number:.2%}"
    if kind == AlertKind.LATENCY_SLO:
        return f"{number:,.1f} ms"
    if kind == AlertKind.ROLLUP_MISMATCH:
        return f"{number:.0f} hours"
    return f"{number:.3f}"  # routing drift: a PSI


# --- Budgets ------------------------------------------------------------------------------


def _budget_evaluate(
    budget: Budget, now: datetime, run: EvaluationRun, *, spend_of: SpendOf
) -> None:
    """Each threshold, and the forecast, notifies once per budget period."""
    status = budget_status(budget, now, spend_of=spend_of)
    period = status.period_start.date()
    crossing = [str(value) for value in status.crossed]
    # "Forecast to exceed" warns while the money is not yet gone.
    if (
        budget.notify_forecast
        and status.forecast > budget.amount_usd
        and status.spent < budget.amount_usd
    ):
        crossing.append("forecast")
    already = set(
        BudgetNotice.objects.filter(budget=budget, period_start=period).values_list(
            "threshold", flat=True
        )
    )
    scope = budget.scope_label
    alert = Alert.objects.select_for_update().filter(budget=budget, scope=scope).first()
    before = alert.state if alert else ""
    active = bool(crossing)
    if active and (alert is None or alert.state == AlertState.RESOLVED):
        alert = alert or Alert(
            budget=budget,
            scope=scope,
            project=budget.project,
            organization=budget.organization,
            kind=AlertKind.COST_OVERRUN,
        )
        _incident_open(alert, AlertState.FIRING, now)
    elif not active and alert is not None and alert.state != AlertState.RESOLVED:
        alert.state, alert.resolved_at = AlertState.RESOLVED, now  # a new period starts clean
    summary = (
        f"{budget.name}: {usd(status.spent)} of {usd(budget.amount_usd)} "
        f"({status.percent:.1f}%), forecast {usd(status.forecast)}"
    )
    if alert is not None:
        alert.severity = "critical" if status.spent >= budget.amount_usd else "warning"
        alert.value, alert.threshold = status.percent, float(min(budget.thresholds, default=100))
        alert.summary = summary[:300]
        alert.details = {
            "spent_usd": f"{status.spent:.2f}",
            "forecast_usd": f"{status.forecast:.2f}",
            "period_start": status.period_start.isoformat(),
            "thresholds_fired": sorted(already | set(crossing)),
        }
        alert.updated_at = now
        alert.save()
    _record(
        run,
        alert,
        before,
        now,
        status.percent,
        active,
        summary,
        budget=budget,
        scope=scope,
        label=f"budget {budget.name}",
    )
    for threshold in crossing:
        if threshold in already:
            continue
        BudgetNotice.objects.create(
            budget=budget,
            period_start=period,
            threshold=threshold,
            fired_at=now,
            spent_usd=status.spent,
        )
        run.transitions.append(f"budget {budget.name}: {threshold} crossed")
        if alert is not None and _silenced(alert, now):
            continue
        run.notifications += notify(
            organization=budget.organization,
            recipients=recipients_for(budget.organization, budget.recipients, FINANCE_ROLES),
            dedup_key=f"budget:{budget.pk}:{period.isoformat()}:{threshold}",
            template="budget",
            context={
                "budget": budget,
                "status": status,
                "threshold": threshold,
                "now": now,
                "url": dashboard_url("/dashboard/cost/"),
            },
            alert=alert,
            now=now,
        )

"""Budget alerting: each threshold of a budget, and its forecast, notifies once per period.

What a budget has spent and is forecast to spend is `analytics.metrics.budgets`; this module
turns that status into crossings, the budget's alert and its notices.
"""

from __future__ import annotations

from datetime import date, datetime

from analytics.alerts.states import EvaluationRun, evaluation_record, incident_open, silenced
from analytics.delivery.outbox import dashboard_url, notify, recipients_for
from analytics.formatting import usd
from analytics.metrics.budgets import BudgetStatus, SpendOf, budget_status
from analytics.models import Alert, AlertState, BudgetNotice
from governance.models import AlertKind, Budget, Role

FINANCE_ROLES = (Role.FINANCE, Role.ADMIN)


def budget_evaluate(
    budget: Budget, now: datetime, run: EvaluationRun, *, spend_of: SpendOf
) -> None:
    """Judge the budget's current period: move its alert, keep the judgement, and send a
    notice for each crossing not yet noticed this period."""
    status = budget_status(budget, now, spend_of=spend_of)
    period = status.period_start.date()
    crossing = budget_crossings(status)
    already = set(
        BudgetNotice.objects.filter(budget=budget, period_start=period).values_list(
            "threshold", flat=True
        )
    )
    scope = budget.scope_label
    alert = Alert.objects.select_for_update().filter(budget=budget, scope=scope).first()
    before = alert.state if alert else ""
    active = bool(crossing)
    alert = _budget_alert_move(alert, budget, active=active, now=now)
    summary = (
        f"{budget.name}: {usd(status.spent)} of {usd(budget.amount_usd)} "
        f"({status.percent:.1f}%), forecast {usd(status.forecast)}"
    )
    if alert is not None:
        fired = sorted(already | set(crossing))
        _budget_alert_update(alert, status, summary, thresholds_fired=fired, now=now)
    evaluation_record(
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
        if threshold not in already:
            _notice_send(status, period, threshold, alert, now, run)


def budget_crossings(status: BudgetStatus) -> list[str]:
    """The thresholds the period's spend has reached, and `forecast` when the budget asks
    for it and its status is forecast to exceed."""
    crossing = [str(value) for value in status.crossed]
    # "Forecast to exceed" warns while the money is not yet gone.
    if status.budget.notify_forecast and status.status == "forecast_to_exceed":
        crossing.append("forecast")
    return crossing


def _budget_alert_move(
    alert: Alert | None, budget: Budget, *, active: bool, now: datetime
) -> Alert | None:
    """A crossing fires the budget's alert at once; none resolves it (a new period starts
    clean)."""
    if active and (alert is None or alert.state == AlertState.RESOLVED):
        alert = alert or Alert(
            budget=budget,
            scope=budget.scope_label,
            project=budget.project,
            organization=budget.organization,
            kind=AlertKind.COST_OVERRUN,
        )
        incident_open(alert, AlertState.FIRING, now)
    elif not active and alert is not None and alert.state != AlertState.RESOLVED:
        alert.state, alert.resolved_at = AlertState.RESOLVED, now
    return alert


def _budget_alert_update(
    alert: Alert,
    status: BudgetStatus,
    summary: str,
    *,
    thresholds_fired: list[str],
    now: datetime,
) -> None:
    """Save what the alert shows: percent spent against the lowest threshold, the money."""
    budget = status.budget
    alert.severity = "critical" if status.status == "exceeded" else "warning"
    alert.value, alert.threshold = status.percent, float(min(budget.thresholds, default=100))
    alert.summary = summary[:300]
    alert.details = {
        "spent_usd": f"{status.spent:.2f}",
        "forecast_usd": f"{status.forecast:.2f}",
        "period_start": status.period_start.isoformat(),
        "thresholds_fired": thresholds_fired,
    }
    alert.updated_at = now
    alert.save()


def _notice_send(
    status: BudgetStatus,
    period: date,
    threshold: str,
    alert: Alert | None,
    now: datetime,
    run: EvaluationRun,
) -> None:
    """Note the crossing for the period and, unless the alert is silenced, mail it."""
    budget = status.budget
    BudgetNotice.objects.create(
        budget=budget,
        period_start=period,
        threshold=threshold,
        fired_at=now,
        spent_usd=status.spent,
    )
    run.transitions.append(f"budget {budget.name}: {threshold} crossed")
    if alert is not None and silenced(alert, now):
        return
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

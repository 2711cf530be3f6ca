"""Budget alerting: each threshold of a budget, and its forecast, notifies once per period.

What a budget has spent and is forecast to spend is `analytics.metrics.budgets`; this module
turns that status into crossings, the budget's alert and its notices. Thresholds crossed in
one evaluation are each noted, and mailed together as one message naming the highest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from analytics.alerts.states import EvaluationRun, evaluation_record, incident_open, silenced
from analytics.delivery.outbox import dashboard_url, notify, recipients_for
from analytics.formatting import budget_scope, budget_where, usd
from analytics.metrics.budgets import BudgetStatus, SpendOf, budget_status
from analytics.models import Alert, AlertState, BudgetNotice
from governance.models import AlertKind, Budget, Role

FINANCE_ROLES = (Role.FINANCE, Role.ADMIN)


def budget_evaluate(
    budget: Budget, now: datetime, run: EvaluationRun, *, spend_of: SpendOf
) -> None:
    """Judge the budget's current period: move its alert, keep the judgement, note each
    crossing not yet noted this period and mail them as one notice."""
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
    fresh = [threshold for threshold in crossing if threshold not in already]
    if fresh:
        _notices_send(status, period, fresh, alert, now, run)


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


def _notices_send(
    status: BudgetStatus,
    period: date,
    fresh: list[str],
    alert: Alert | None,
    now: datetime,
    run: EvaluationRun,
) -> None:
    """Note every fresh crossing for the period (so none fires again) and, unless the alert
    is silenced, mail one notice naming the highest: 50% and 80% crossed together are one
    mail about 80%, not a 50% mail already out of date."""
    budget = status.budget
    for threshold in fresh:
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
    percents = sorted(int(threshold) for threshold in fresh if threshold != "forecast")
    named = str(percents[-1]) if percents else "forecast"
    run.notifications += notify(
        organization=budget.organization,
        recipients=recipients_for(budget.organization, budget.recipients, FINANCE_ROLES),
        # Keyed by the threshold named: each is named at most once a period.
        dedup_key=f"budget:{budget.pk}:{period.isoformat()}:{named}",
        template="budget",
        context=budget_mail_context(
            status,
            named,
            also_crossed=[f"{value}%" for value in percents[:-1]],
            forecast_also=bool(percents) and "forecast" in fresh,
            now=now,
        ),
        alert=alert,
        now=now,
    )


def budget_mail_context(
    status: BudgetStatus,
    threshold: str,
    *,
    also_crossed: Sequence[str] = (),
    forecast_also: bool = False,
    now: datetime,
) -> dict[str, Any]:
    """What the budget templates show: whose budget it is (its project, or all projects) and
    every figure already formatted, money with thousands separators."""
    budget = status.budget
    filters = {"project": budget.project.name} if budget.project else {}
    return {
        "budget": budget,
        "status": status,
        "threshold": threshold,
        "also_crossed": list(also_crossed),
        "forecast_also": forecast_also,
        "where": budget_where(budget),
        "scope": budget_scope(budget),
        "amount": usd(budget.amount_usd),
        "spent": usd(status.spent),
        "percent": f"{status.percent:,.1f}%",
        "run_rate": usd(status.run_rate_per_day),
        "forecast": usd(status.forecast),
        "last_day": status.period_end - timedelta(days=1),  # the end is exclusive: midnight
        "now": now,
        "url": dashboard_url("/dashboard/cost/" + (f"?{urlencode(filters)}" if filters else "")),
    }

"""The demo's alert rules and budgets, and the alerts its incidents raise.

Each scenario project has a rules file in `data/rules/` (the `load_rules` shape; any of
them loads with `manage.py load_rules demo PROJECT FILE`). Budget periods follow the calendar
while the demo's week of traffic ends whenever it is started, so one fixed amount would be at
10% on the 2nd of a month and long past 100% on the 28th: the research assistant's monthly
budget is therefore sized to the period the demo starts in, so that it has crossed 80% with
the forecast beyond it. `alerts_replay` then judges the rules along the last hours, as the
minute-by-minute evaluation would have, so alerts open with a history rather than all at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from analytics.models import Alert, AlertState
from analytics.selectors import BudgetStatus, budget_status
from analytics.services import alerts_evaluate, notifications_send
from governance.models import Budget, Organization, Project
from governance.rules import rules_load
from tollgate.demo.actor import demo_actor

RULES_DIR = Path(__file__).resolve().parent / "data" / "rules"
OVERRUN_PROJECT, OVERRUN_BUDGET = "research-assistant", "monthly spend"
OVERRUN_PERCENT = Decimal("85")  # of the amount, spent when the demo starts
CENT = Decimal("0.01")


def rules_document(project: str) -> dict[str, Any]:
    """The rules file of a demo project."""
    document: dict[str, Any] = json.loads((RULES_DIR / f"{project}.json").read_text())
    return document


def demo_rules_load(organization: Organization) -> None:
    """Load every demo project's rules file, as `manage.py load_rules` would."""
    with demo_actor(organization):
        for project in Project.objects.filter(organization=organization):
            if (RULES_DIR / f"{project.name}.json").exists():
                rules_load(project=project, document=rules_document(project.name))


def overrun_amount(status: BudgetStatus) -> Decimal | None:
    """An amount the budget has spent 85% of, with the forecast beyond it; late in a period,
    when the forecast adds less than that, halfway between spent and forecast (over 80% too).
    None when nothing was spent or nothing is left to forecast."""
    spent, forecast = status.spent, status.forecast
    if spent <= 0 or forecast - spent < 2 * CENT:
        return None
    amount = (spent * 100 / OVERRUN_PERCENT).quantize(CENT, rounding=ROUND_CEILING)
    if forecast <= amount:
        amount = ((spent + forecast) / 2).quantize(CENT, rounding=ROUND_HALF_UP)
    return amount


def overrun_budget_size(organization: Organization, now: datetime) -> Budget | None:
    """Give the research assistant's monthly budget its overrunning amount (through the same
    loader as its rules file, so the audit history shows the change)."""
    project = Project.objects.filter(organization=organization, name=OVERRUN_PROJECT).first()
    if project is None:
        return None
    budget = Budget.objects.filter(project=project, name=OVERRUN_BUDGET).first()
    if budget is None:
        return None
    amount = overrun_amount(budget_status(budget, now))
    if amount is None:
        return budget
    document = rules_document(OVERRUN_PROJECT)
    document["budgets"] = [
        {**item, "amount_usd": str(amount)} if item["name"] == OVERRUN_BUDGET else item
        for item in document["budgets"]
    ]
    with demo_actor(organization):
        rules_load(project=project, document=document)
    budget.refresh_from_db()
    return budget


@dataclass
class Replay:
    evaluations: int = 0
    transitions: list[str] = field(default_factory=list)
    notifications: int = 0  # queued
    sent: int = 0


def alerts_replay(*, start: datetime, end: datetime, step: timedelta) -> Replay:
    """Evaluate the rules at `start`, every `step` after it and at `end`, then send the mail
    queued meanwhile. Sent here rather than left to Celery beat's first run: the demo is
    browsable before that, and its alerts' deliveries must not sit pending in the past."""
    replay = Replay()
    moments = []
    at = start
    while at < end:
        moments.append(at)
        at += step
    moments.append(end)
    for moment in moments:
        run = alerts_evaluate(now=moment)
        replay.evaluations += 1
        replay.transitions += run.transitions
        replay.notifications += run.notifications
    if replay.notifications:
        # One batch; any rest (and a failed send's retry) is the worker's, due as they are.
        replay.sent = notifications_send().sent
    return replay


def alerts_overview(organization: Organization) -> list[str]:
    """One line per alert of the organization, the open ones first."""
    order: dict[str, int] = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}
    alerts = sorted(
        Alert.objects.filter(organization=organization).select_related("project", "rule"),
        key=lambda alert: (order.get(alert.state, 3), alert.project.name if alert.project else ""),
    )
    lines = []
    for alert in alerts:
        where = alert.project.name if alert.project else "organization"
        lines.append(f"{alert.state:<8} {where:<19} {alert.summary}")
    return lines

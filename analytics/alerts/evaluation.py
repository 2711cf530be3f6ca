"""Alert evaluation: rules and budgets judged on the live figures, every minute.

Each rule yields one measurement per scope (a model_failure rule: one per model;
`measurements`). An alert moves pending -> firing -> resolved (`rules`, `budgets`);
notifications are queued in the same transaction as the move (analytics.delivery.outbox).
Every judgement is kept in AlertEvaluation for audit (`states`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from analytics.alerts.budgets import budget_evaluate
from analytics.alerts.measurements import rule_measurements
from analytics.alerts.rules import rule_advance
from analytics.alerts.states import EvaluationRun
from analytics.metrics.budgets import SpendLedger
from governance.models import AlertRule, Budget, Project

EVALUATION_LOCK_KEY = 0x746F6C6C_616C7274  # one evaluator at a time, whatever the workers


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
                rule_advance(rule, measurement, now, run)
                run.evaluated += 1
        budgets = list(
            Budget.objects.filter(is_active=True).select_related("organization", "project")
        )
        # One grouped read per distinct window serves every budget (no query per budget).
        organization_ids = {budget.organization_id for budget in budgets}
        ledger = SpendLedger(Project.objects.filter(organization_id__in=organization_ids))
        for budget in budgets:
            budget_evaluate(budget, now, run, spend_of=ledger)
            run.evaluated += 1
    return run

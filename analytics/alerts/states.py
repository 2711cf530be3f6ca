"""What rule and budget evaluation share: the run's tally, a new incident on an alert record,
the audit record of each judgement, and silences."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analytics.models import Alert, AlertEvaluation, AlertState
from governance.models import AlertRule, Budget


@dataclass
class EvaluationRun:
    """What one evaluation did, for the task's result and the logs."""

    evaluated: int = 0
    transitions: list[str] = field(default_factory=list)
    notifications: int = 0
    skipped_locked: bool = False


def incident_open(alert: Alert, state: str, now: datetime) -> None:
    """Start a new incident on an alert record: the marks of its last one are cleared."""
    alert.state, alert.pending_since = state, now
    alert.firing_since = now if state == AlertState.FIRING else None
    alert.resolved_at = alert.last_notified_at = None
    alert.acknowledged_at = alert.acknowledged_by = None
    alert.details = {}


def evaluation_record(
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


def silenced(alert: Alert, now: datetime) -> bool:
    """Whether someone silenced the alert's notifications past `now`."""
    return alert.silenced_until is not None and alert.silenced_until > now

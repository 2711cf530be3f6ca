"""A rule's alert moving with each measurement: pending -> firing -> resolved, reminders while
it fires, and the notification of each move (queued in the evaluation's transaction)."""

from __future__ import annotations

from datetime import datetime, timedelta

from analytics.alerts.measurements import Measurement, migration_time
from analytics.alerts.states import EvaluationRun, evaluation_record, incident_open, silenced
from analytics.alerts.wording import crossing_shown
from analytics.delivery.outbox import dashboard_url, notify, recipients_for
from analytics.models import Alert, AlertState
from governance.models import AlertKind, AlertRule, Role

OPS_ROLES = (Role.OPS, Role.ADMIN)


def rule_advance(rule: AlertRule, seen: Measurement, now: datetime, run: EvaluationRun) -> None:
    """Move the rule's alert of the measured scope, keep the judgement, notify on a move."""
    alert = Alert.objects.select_for_update().filter(rule=rule, scope=seen.scope).first()
    before = alert.state if alert else ""
    event = None
    if seen.judged and seen.breached:
        alert, event = _breach(alert, rule, seen, now)
    elif seen.judged and alert is not None and alert.state != AlertState.RESOLVED:
        event = _resolve(alert, rule, now)
    if alert is not None and alert.state != AlertState.RESOLVED:
        _migration_follow(alert, rule, now)
    notifying = False
    if alert is not None:
        notifying = event is not None and not silenced(alert, now)
        _alert_update(alert, rule, seen, now, notified=notifying)
    evaluation_record(
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
    if notifying and alert is not None and event is not None:
        run.notifications += _alert_notify(alert, rule, event, now)


def _breach(
    alert: Alert | None, rule: AlertRule, seen: Measurement, now: datetime
) -> tuple[Alert, str | None]:
    """A breach opens an incident (pending), fires once it has held `for_minutes`, and
    reminds while it fires; the event to notify, if any."""
    if alert is None or alert.state == AlertState.RESOLVED:
        alert = alert or Alert(
            rule=rule,
            scope=seen.scope,
            project=rule.project,
            organization=rule.project.organization,
            kind=rule.kind,
        )
        incident_open(alert, AlertState.PENDING, now)
    pending_since = alert.pending_since or now  # set whenever an incident is open
    if alert.state == AlertState.PENDING and now - pending_since >= timedelta(
        minutes=rule.for_minutes
    ):
        alert.state, alert.firing_since = AlertState.FIRING, now
        return alert, "firing"
    if alert.state == AlertState.FIRING and _repeat_due(alert, rule, now):
        return alert, "repeat"
    return alert, None


def _resolve(alert: Alert, rule: AlertRule, now: datetime) -> str | None:
    """The condition cleared: the alert resolves; a firing one notifies if the rule asks."""
    was_firing = alert.state == AlertState.FIRING
    alert.state, alert.resolved_at = AlertState.RESOLVED, now
    if was_firing and rule.kind == AlertKind.MODEL_FAILURE:
        alert.details = {**alert.details, **migration_time(alert, rule, now)}
    return "resolved" if was_firing and rule.send_resolved else None


def _migration_follow(alert: Alert, rule: AlertRule, now: datetime) -> None:
    """An open model incident shows its first failure and, once its traffic has migrated,
    the migration time (DESIGN.md does not wait for the model to recover). Measured until the
    traffic has migrated; the first such minute does not move after that."""
    if rule.kind != AlertKind.MODEL_FAILURE or alert.details.get("migration_seconds") is not None:
        return
    alert.details = {**alert.details, **migration_time(alert, rule, now)}


def _alert_update(
    alert: Alert, rule: AlertRule, seen: Measurement, now: datetime, *, notified: bool
) -> None:
    """Save what the alert shows: the rule's line, the measured value, summary and details."""
    # The alert keeps a float snapshot of the line it was judged against, for display.
    alert.severity, alert.threshold = rule.severity, float(rule.effective_threshold)
    alert.summary = seen.summary[:300]
    if seen.value is not None or not seen.judged:
        alert.value = seen.value
    alert.details = {**alert.details, **seen.details}
    if notified:
        alert.last_notified_at = now
    alert.updated_at = now
    alert.save()


def _repeat_due(alert: Alert, rule: AlertRule, now: datetime) -> bool:
    if alert.acknowledged_at is not None:
        return False  # someone is on it: no reminders until it resolves
    last = alert.last_notified_at or alert.firing_since or now  # a firing alert has fired
    return now - last >= timedelta(minutes=rule.repeat_minutes)


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
            "url": dashboard_url(f"/dashboard/alerts/{alert.pk}/"),
            **crossing_shown(alert.kind, alert.value, alert.threshold),
        },
        alert=alert,
        now=now,
    )

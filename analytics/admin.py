"""Alerts, their evaluations, the notification outbox and repricings in the admin: read-only,
scoped to the organization. The writes are actions: acknowledge and silence an alert, send an
email again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from analytics.delivery.outbox import notifications_resend
from analytics.models import (
    Alert,
    AlertEvaluation,
    AlertState,
    Notification,
    Repricing,
    RollupMismatch,
)
from analytics.services import alert_acknowledge, alert_silence
from governance.admin import TenantScopedAdmin, user_organization_id

SILENCE_FOR = timedelta(hours=1)  # the admin's silence action; the alert page offers others


class ReadOnlyAdmin(TenantScopedAdmin):
    """Written by the jobs only; the admin shows them for audit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Alerts as the evaluation left them; people acknowledge or silence them (actions that
    take `change_alert`), the rows stay read-only."""

    list_display = [
        "kind", "project", "scope", "severity", "state", "value", "acknowledged_by",
        "silenced_until", "updated_at",
    ]  # fmt: skip
    list_filter = ["state", "kind", "severity", "project"]
    list_select_related = ["project__organization", "acknowledged_by"]
    search_fields = ["scope", "summary"]
    actions = ["acknowledge", "silence"]

    def has_respond_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.change_alert")

    @admin.action(
        description="Acknowledge (reminders stop until it resolves)", permissions=["respond"]
    )
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        now = timezone.now()
        open_alerts = queryset.exclude(state=AlertState.RESOLVED)  # the user's organization's
        for alert in open_alerts:
            alert_acknowledge(alert, user=request.user, now=now)
        messages.info(
            request, f"Acknowledged {len(open_alerts)} alert(s); resolved ones left alone."
        )

    @admin.action(description="Silence for an hour (no emails)", permissions=["respond"])
    def silence(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        now = timezone.now()
        for alert in queryset:
            alert_silence(alert, until=now + SILENCE_FOR, now=now)
        messages.info(request, f"Silenced {len(queryset)} alert(s) for an hour.")


@admin.register(AlertEvaluation)
class AlertEvaluationAdmin(ReadOnlyAdmin):
    """Every judgement of a rule or budget: the alert events, kept for audit."""

    list_display = [
        "evaluated_at", "source", "scope", "value", "breached", "state_before", "state_after",
        "note",
    ]  # fmt: skip
    list_filter = ["breached", "state_after"]
    list_select_related = ["rule", "budget"]
    search_fields = ["scope", "note", "rule__name", "budget__name"]
    date_hierarchy = "evaluated_at"

    @admin.display(description="rule or budget")
    def source(self, evaluation: AlertEvaluation) -> str:
        if evaluation.rule is not None:
            return f"rule {evaluation.rule.name}"
        return f"budget {evaluation.budget.name}" if evaluation.budget is not None else "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Its organization is the rule's project's, or the budget's: no single path.
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        organization_id = user_organization_id(request)
        return queryset.filter(
            Q(rule__project__organization=organization_id) | Q(budget__organization=organization_id)
        )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The outbox: what was sent, what waits for a retry, and what ran out of attempts
    (`failed`, with its last error), which "Send again" queues anew. Like the other analytics
    rows, a staff user sees them with `view_notification`; sending again takes
    `change_notification` (the rows themselves stay read-only)."""

    list_display = [
        "subject", "recipient", "state", "attempts", "next_attempt_at", "sent_at", "failed_at",
        "last_error",
    ]  # fmt: skip
    list_filter = ["state"]
    search_fields = ["subject", "recipient"]
    actions = ["send_again"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.change_notification")

    @admin.action(description="Send again", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        """Queue the selected failed and pending emails for the sender's next run, attempts
        counted afresh; sent ones are not sent twice. Each row's history records who did it."""
        # The queryset holds only the user's organization's rows (TenantScopedAdmin).
        user = request.user
        if not user.is_authenticated:  # the admin admits only signed-in staff
            raise PermissionDenied
        queued = notifications_resend(notifications=queryset, now=timezone.now())
        LogEntry.objects.log_actions(
            user_id=user.pk,
            queryset=Notification.objects.filter(pk__in=queued),
            action_flag=CHANGE,
            change_message="Send again: queued for the next run, attempts reset.",
        )
        skipped = queryset.count() - len(queued)
        note = f"; {skipped} left alone (sent or being sent)" if skipped else ""
        messages.info(request, f"{len(queued)} notification(s) queued for the next send{note}.")


@admin.register(Repricing)
class RepricingAdmin(ReadOnlyAdmin):
    """Jobs that a price change queued: how far each got (the page shows it as it runs)."""

    organization_path = "project__organization"

    list_display = [
        "project", "reason", "state", "progress_shown", "events_repriced", "since", "until",
        "created_at", "finished_at",
    ]  # fmt: skip
    list_filter = ["state", "project"]
    search_fields = ["reason"]

    @admin.display(description="progress")
    def progress_shown(self, job: Repricing) -> str:
        return f"{job.progress:.0%} ({job.hours_done} of {job.hours_total} hours)"


@admin.register(RollupMismatch)
class RollupMismatchAdmin(ReadOnlyAdmin):
    """Hours whose rollups the reconciliation found differing from their raw events; open ones
    first. `manage.py rollups_rebuild` repairs them."""

    organization_path = "project__organization"

    list_display = [
        "project", "hour", "figures_shown", "first_seen_at", "last_seen_at", "resolved_at",
        "resolved_by",
    ]  # fmt: skip
    list_filter = ["project", "resolved_by"]
    ordering = ["-resolved_at", "-hour"]  # open (null) ones first: PostgreSQL sorts NULLs first

    @admin.display(description="differs (raw / rollup)")
    def figures_shown(self, mismatch: RollupMismatch) -> str:
        return "; ".join(
            f"{name} {values.get('raw')} / {values.get('rollup')}"
            for name, values in sorted(mismatch.figures.items())
        )

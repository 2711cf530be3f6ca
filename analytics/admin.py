"""Alerts and the notification outbox in the admin: read-only, scoped to the organization."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import Alert, Notification
from governance.admin import TenantScopedAdmin


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
    list_display = ["kind", "project", "scope", "severity", "state", "value", "updated_at"]
    list_filter = ["state", "kind", "severity", "project"]
    search_fields = ["scope", "summary"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["subject", "recipient", "state", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["state"]
    search_fields = ["subject", "recipient"]

"""Users in the admin: a superuser sees everyone; an organization admin sees and edits the
members of their organization only (names, email, password, active or not), never superusers,
and never staff or superuser status, groups or permissions (those follow the role, set on the
membership). A user an organization admin adds becomes a member of that organization."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from governance.admin_base import CheckedAdminMixin, user_organization_id
from governance.models import Membership, Organization, Role
from governance.services import membership_role_apply

MEMBER_FIELDSETS = (
    (None, {"fields": ("username", "password")}),
    ("Personal info", {"fields": ("first_name", "last_name", "email")}),
    ("Access", {"fields": ("is_active",), "description": "The role is set on the membership."}),
    ("Dates", {"fields": ("last_login", "date_joined")}),
)
MEMBER_ADD_FIELDSETS = (
    (None, {"fields": ("username", "email", "usable_password", "password1", "password2")}),
)


class MemberUserAdmin(CheckedAdminMixin, UserAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            membership__organization=user_organization_id(request), is_superuser=False
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return MEMBER_ADD_FIELDSETS if obj is None else MEMBER_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ("last_login", "date_joined")

    def get_list_filter(self, request: HttpRequest) -> Any:
        return super().get_list_filter(request) if request.user.is_superuser else ("is_active",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An admin without an organization would add users that nobody sees.
        allowed = super().has_add_permission(request)
        return allowed and (request.user.is_superuser or user_organization_id(request) is not None)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deactivate instead: a deleted user's edits would lose their name in the history.
        return request.user.is_superuser

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        organization_id = user_organization_id(request)
        if change or request.user.is_superuser or organization_id is None:
            return
        membership = Membership.objects.create(
            user=obj, organization=Organization.objects.get(pk=organization_id), role=Role.OPS
        )
        membership_role_apply(membership=membership)


admin.site.unregister(User)
admin.site.register(User, MemberUserAdmin)

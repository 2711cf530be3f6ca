"""Django admin for governance data, scoped to the staff user's organization.

A superuser sees every organization; any other staff user sees and edits only rows of the
organization of their membership, and can only attach new rows to it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from governance.keys import key_generate
from governance.models import (
    ApiKey,
    ComplexityBand,
    MatrixModel,
    Membership,
    ModelPrice,
    Organization,
    Project,
    Service,
)


def user_organization_id(request: HttpRequest) -> int | None:
    membership = getattr(request.user, "membership", None)
    return membership.organization_id if membership else None


class TenantScopedAdmin(admin.ModelAdmin):
    """Limits rows and foreign-key choices to the user's organization."""

    organization_path: str = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.organization_path: user_organization_id(request)})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser or field is None:
            return field
        organization_id = user_organization_id(request)
        model = db_field.related_model
        paths = {
            Organization: "pk",
            Project: "organization",
            Service: "project__organization",
            MatrixModel: "project__organization",
        }
        if model in paths:
            field.queryset = field.queryset.filter(**{paths[model]: organization_id})
        return field


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    organization_path = "pk"
    list_display = ["name", "created_at"]
    search_fields = ["name"]


class ServiceInline(admin.TabularInline):
    model = Service
    extra = 0


@admin.register(Project)
class ProjectAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "organization",
        "baseline_model",
        "interception_cost_usd",
        "correction_cost_usd",
        "incident_cost_usd",
        "retention_days",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    inlines = [ServiceInline]


@admin.register(Service)
class ServiceAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    list_display = ["name", "project", "created_at"]
    list_filter = ["project__organization", "project"]
    search_fields = ["name", "project__name"]


class ModelPriceInline(admin.TabularInline):
    model = ModelPrice
    extra = 1


@admin.register(MatrixModel)
class MatrixModelAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    list_display = ["name", "provider", "tier", "project", "is_active"]
    list_filter = ["is_active", "provider", "project"]
    search_fields = ["name", "provider"]
    inlines = [ModelPriceInline]


@admin.register(ModelPrice)
class ModelPriceAdmin(TenantScopedAdmin):
    organization_path = "model__project__organization"
    list_display = [
        "model",
        "effective_from",
        "input_per_1k",
        "output_per_1k",
        "cache_read_per_1k",
        "cache_write_per_1k",
    ]
    list_filter = ["model__project", "model__provider"]
    search_fields = ["model__name"]
    date_hierarchy = "effective_from"


@admin.register(ComplexityBand)
class ComplexityBandAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    list_display = ["project", "min_score", "max_score", "model_name"]
    list_filter = ["project"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Keys are generated on save and shown once; revoking is an action, never a delete."""

    organization_path = "project__organization"
    list_display = [
        "__str__",
        "name",
        "scope",
        "project",
        "service",
        "created_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = ["scope", "project", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "project__name", "service__name"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["project", "service", "scope", "name", "rate_limit_per_minute", *readonly_fields]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if not change:
            generated = key_generate()
            obj.prefix, obj.digest = generated.prefix, generated.digest
            messages.warning(request, f"New API key (shown once, store it now): {generated.raw}")
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.info(request, f"Revoked {revoked} key(s).")

"""Django admin for governance data, scoped to the staff user's organization.

A superuser sees every organization; any other staff user sees and edits only rows of the
organization of their membership, and can only attach new rows to it.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from governance.admin_base import (
    AuditedAdmin,
    AuditedForm,
    NumbersAdminMixin,
    TenantScopedAdmin,
    user_organization_id,
)
from governance.keys import key_generate
from governance.models import (
    ADVICE_FINDINGS,
    PROFILE_QUESTIONS,
    AlertRule,
    ApiKey,
    Budget,
    ComplexityBand,
    MatrixModel,
    Membership,
    ModelPrice,
    Organization,
    Project,
    ProjectProfile,
    Service,
)
from governance.numbers import (
    ADMIN_NUMBER_FIELDS,
    decimal_shown,
)
from governance.services import membership_role_apply

__all__ = ["TenantScopedAdmin", "user_organization_id"]  # the faces other apps' admins use


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    organization_path = "pk"
    list_display = ["name", "created_at"]
    search_fields = ["name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser  # a tenant admin runs one organization, not many

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


class ServiceInline(NumbersAdminMixin, admin.TabularInline):
    model = Service
    extra = 0
    formfield_overrides = ADMIN_NUMBER_FIELDS


class ProjectProfileInline(admin.StackedInline):
    """The project's answers to the five questions, on the project's page where an admin
    looks for its settings; their history is on the profile's own page."""

    model = ProjectProfile
    extra = 1  # the questions show unanswered; left untouched, no profile is saved
    max_num = 1
    verbose_name = verbose_name_plural = "profile (the five questions behind the advice)"


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = [
        "name",
        "organization",
        "baseline_model",
        "interception_cost_usd",
        "correction_cost_usd",
        "incident_cost_usd",
        "check_cost_usd",
        "default_mode",
        "retention_days",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    inlines = [ServiceInline, ProjectProfileInline]


@admin.register(ProjectProfile)
class ProjectProfileAdmin(AuditedAdmin):
    """Profiles side by side, each with its history (who answered what, when and why)."""

    organization_path = "project__organization"
    list_select_related = ["project__organization"]
    list_display = ["project", *PROFILE_QUESTIONS]
    list_filter = ["project__organization", "precision", "compliance"]
    search_fields = ["project__name"]


@admin.register(Service)
class ServiceAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    list_display = ["name", "project", "created_at"]
    list_filter = ["project__organization", "project"]
    search_fields = ["name", "project__name"]


class ModelPriceInline(NumbersAdminMixin, admin.TabularInline):
    model = ModelPrice
    extra = 1
    formfield_overrides = ADMIN_NUMBER_FIELDS


@admin.register(MatrixModel)
class MatrixModelAdmin(AuditedAdmin):
    organization_path = "project__organization"
    list_select_related = ["project__organization"]
    list_display = ["name", "provider", "tier", "project", "is_active"]
    list_filter = ["is_active", "provider", "project"]
    search_fields = ["name", "provider"]
    inlines = [ModelPriceInline]


class ModelPriceForm(AuditedForm):
    """A price's model is one of its project's: a price being edited offers the models of its
    own project only; a new price offers the organization's, each named with its project
    (the same model name is in every project's matrix)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("model")
        if not isinstance(field, forms.ModelChoiceField) or field.queryset is None:
            return
        queryset = field.queryset.select_related("project").order_by("project__name", "name")
        if self.instance.pk is not None:
            queryset = queryset.filter(project_id=self.instance.model.project_id)
        field.queryset = queryset


class MatrixModelChoiceField(forms.ModelChoiceField):
    """A model named with its project: `gpt-5.4 (openai) · support`."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj} · {obj.project.name}"


@admin.register(ModelPrice)
class ModelPriceAdmin(AuditedAdmin):
    organization_path = "model__project__organization"
    form = ModelPriceForm
    list_select_related = ["model__project"]

    @admin.display(description="project", ordering="model__project__name")
    def project(self, price: ModelPrice) -> Project:
        return price.model.project

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "model":
            kwargs["form_class"] = MatrixModelChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    list_display = [
        "model",
        "project",
        "effective_from",
        "input_per_1k",
        "output_per_1k",
        "cache_read_per_1k",
        "cache_write_per_1k",
    ]
    list_filter = ["model__project", "model__provider"]
    search_fields = ["model__name"]
    date_hierarchy = "effective_from"


class ComplexityBandForm(AuditedForm):
    """A band being edited names one of its project's models (a list, not free text); a new
    band, whose project is chosen on the same page, takes the name as typed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("model_name")
        if field is None or self.instance.pk is None:
            return
        names = list(
            MatrixModel.objects.filter(project_id=self.instance.project_id)
            .order_by("name")
            .values_list("name", flat=True)
        )
        if self.instance.model_name not in names:  # a model since removed stays as it is
            names.append(self.instance.model_name)
        self.fields["model_name"] = forms.ChoiceField(
            choices=[(name, name) for name in names], label=field.label, help_text=field.help_text
        )


@admin.register(ComplexityBand)
class ComplexityBandAdmin(AuditedAdmin):
    organization_path = "project__organization"
    form = ComplexityBandForm
    list_select_related = ["project__organization"]
    list_display = ["project", "min_score", "max_score", "model_name"]
    list_filter = ["project"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        membership_role_apply(membership=obj)  # groups and staff status follow the role


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

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        # An issued key keeps its project, service and scope: issue a new key instead.
        issued = ["project", "service", "scope"] if obj is not None else []
        return [*issued, *self.readonly_fields]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke, so that the key's history stays

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

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


@admin.register(Budget)
class BudgetAdmin(AuditedAdmin):
    list_select_related = ["organization", "project__organization"]
    list_display = [
        "name",
        "organization",
        "project",
        "scope_kind",
        "scope_name",
        "period",
        "amount_usd",
        "thresholds",
        "is_active",
    ]
    list_filter = ["organization", "project", "period", "scope_kind", "is_active"]
    search_fields = ["name", "scope_name", "project__name"]


class AlertRuleForm(AuditedForm):
    """An architecture_mismatch rule's findings are ticked from advice's codes, not typed."""

    findings = forms.MultipleChoiceField(
        choices=[(code, code) for code in ADVICE_FINDINGS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=AlertRule._meta.get_field("findings").help_text,
    )


@admin.register(AlertRule)
class AlertRuleAdmin(AuditedAdmin):
    organization_path = "project__organization"
    form = AlertRuleForm
    list_select_related = ["project__organization"]
    list_display = [
        "name",
        "project",
        "kind",
        "scope_kind",
        "scope_name",
        "threshold_shown",
        "window_minutes",
        "for_minutes",
        "severity",
        "is_active",
    ]
    list_filter = ["project", "kind", "severity", "is_active"]
    search_fields = ["name", "scope_name", "project__name"]

    @admin.display(description="threshold", ordering="threshold")
    def threshold_shown(self, rule: AlertRule) -> str:
        """The threshold as typed (numeric(20, 8) keeps eight places); blank: the default."""
        if rule.threshold is None:
            return f"default ({decimal_shown(rule.effective_threshold)})"
        return decimal_shown(rule.threshold)


class SuperusersOnly:
    """For django-axes' sign-in records: they name users and addresses of every organization,
    so only superusers see them (AXES_ENABLE_ADMIN is off so axes does not register its own)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser  # deleting an attempt row lifts its lock


@admin.register(AccessAttempt)
class SignInAttemptAdmin(SuperusersOnly, AccessAttemptAdmin):
    """Recent failed sign-ins per username, address and browser, with their counts."""


@admin.register(AccessLog)
class SignInLogAdmin(SuperusersOnly, AccessLogAdmin):
    """Successful sign-ins, kept TOLLGATE_SIGNIN_LOG_DAYS."""


@admin.register(AccessFailureLog)
class SignInFailureLogAdmin(SuperusersOnly, AccessFailureLogAdmin):
    """Failed sign-ins one by one (only when AXES_ENABLE_ACCESS_FAILURE_LOG is on)."""

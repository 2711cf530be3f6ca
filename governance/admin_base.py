"""The admin's building blocks: tenant scoping (a staff user sees and attaches rows of their
organization only), numbers shown and typed as money, the audited form and history with a
change reason, and the check that every registered admin is scoped.

The model admins themselves are registered in governance.admin.
"""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.models import User
from django.core.exceptions import EmptyResultSet
from django.db.models import IntegerField, Model, Q, QuerySet
from django.http import Http404, HttpRequest
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from governance.models import (
    MatrixModel,
    Organization,
    Project,
    Service,
)
from governance.numbers import (
    ADMIN_NUMBER_FIELDS,
    AsciiMoneyField,
    decimal_shown,
    is_money_field,
    is_row_id,
    money_shown,
)

# simple_history's history_change_reason column: varchar(100).
CHANGE_REASON_LENGTH = 100


def user_organization_id(request: HttpRequest) -> int | None:
    membership = getattr(request.user, "membership", None)
    return membership.organization_id if membership else None


class TolerantChangeList(ChangeList):
    """A changelist whose date garbage is a bad lookup (the page again with ?e=1), not a 500.

    Django checks the date hierarchy's `?<date>__year=` only for ValueError from datetime(),
    while a huge year overflows and year 9999 fails a line later, when it adds a year; and a
    list filter's `__year` lookup checks its value only when the SQL is compiled, as the page
    renders. Both are turned into IncorrectLookupParameters while the changelist is built.
    """

    def get_filters(self, request: HttpRequest) -> Any:
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)
        try:  # compiled, not run: lookups such as __year judge their value here
            queryset.query.get_compiler(using=queryset.db).as_sql()
        except EmptyResultSet:
            pass  # a filter that matches nothing is a fine page
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset


class CheckedAdminMixin:
    """Object ids that are not ids answer 404, an empty `?_to_field=` means the primary key
    (as an absent one does), and date garbage in a changelist is a bad lookup.

    Change, delete and Django's history views all look the object up in `get_object`: for an
    id that is not one it answered a redirect to the index, as if the row had just been
    deleted, and for `_to_field=` it looked up a field named "" (FieldDoesNotExist, a 500).
    """

    model: type[Model]

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Model | None:
        from_field = from_field or None
        integer_key = isinstance(self.model._meta.pk, IntegerField)
        if from_field is None and integer_key and not is_row_id(object_id):
            raise Http404
        return super().get_object(request, object_id, from_field)  # type: ignore[misc]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        changelist = super().get_changelist(request, **kwargs)  # type: ignore[misc]
        # An admin with a changelist of its own keeps it.
        return TolerantChangeList if changelist is ChangeList else changelist


def admins_check(*, site: admin.AdminSite = admin.site) -> list[str]:
    """Give every admin of the site that lacks them the checks of CheckedAdminMixin: Django's
    own (users, groups) and other apps' (django-axes' logs) have the same 500s as ours had.
    Run once every app's admin is registered (GovernanceConfig.ready); answers the models
    whose admin it changed."""
    changed = []
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, CheckedAdminMixin):
            continue
        base = type(model_admin)
        checked = type(base.__name__, (CheckedAdminMixin, base), {"__module__": base.__module__})
        site.unregister(model)
        site.register(model, checked)
        changed.append(model._meta.label)
    return changed


def money_column(field: Any) -> Any:
    """A list column showing a money field as money (`$12,000.00`), sorted by the field."""

    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(row: Model) -> str:
        value = getattr(row, field.name)
        return money_shown(value) if value is not None else "-"

    column.__name__ = field.name  # Django names the list's column class after it
    return column


class NumbersAdminMixin:
    """Numbers take the digits 0-9 only; money reads and shows as money (`$12,000.00`) in
    forms and lists, other decimals without the stored trailing zeros. For admins and inlines."""

    model: type[Model]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if is_money_field(db_field):
            kwargs["form_class"] = AsciiMoneyField
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = super().get_list_display(request)  # type: ignore[misc]
        fields = {field.name: field for field in self.model._meta.get_fields()}
        return [
            money_column(fields[name])
            if isinstance(name, str) and name in fields and is_money_field(fields[name])
            else name
            for name in columns
        ]


class TenantScopedAdmin(NumbersAdminMixin, CheckedAdminMixin, admin.ModelAdmin):
    """Limits rows and foreign-key choices to the user's organization; ids that are not ids
    answer 404, and numbers take the digits 0-9 only."""

    organization_path: str = "organization"
    formfield_overrides = ADMIN_NUMBER_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.organization_path: user_organization_id(request)})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser or field is None or field.queryset is None:
            return field
        organization_id = user_organization_id(request)
        scopes = {
            Organization: Q(pk=organization_id),
            Project: Q(organization=organization_id),
            Service: Q(project__organization=organization_id),
            MatrixModel: Q(project__organization=organization_id),
            # Users of this organization, and users not yet in any (to give them a membership).
            User: Q(membership__organization=organization_id) | Q(membership__isnull=True),
        }
        field.queryset = field.queryset.filter(scopes.get(db_field.related_model, Q(pk__in=[])))
        return field

    def get_list_filter(self, request: HttpRequest) -> Any:
        # Filters on a relation list only the values this user's rows use, never other tenants'.
        return [
            (name, admin.RelatedOnlyFieldListFilter) if self._is_relation(name) else name
            for name in super().get_list_filter(request)
        ]

    def _is_relation(self, name: Any) -> bool:
        if not isinstance(name, str):
            return False
        model = self.model
        for part in name.split("__"):
            field = model._meta.get_field(part)
            if not field.is_relation or field.related_model is None:
                return False
            model = field.related_model
        return True


class AuditedForm(forms.ModelForm):
    """An edit of audited data, with an optional reason kept in its history."""

    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=CHANGE_REASON_LENGTH,
        help_text="Optional; kept in the history with your name.",
    )


class MoneyHistoryHelper(HistoricalRecordContextHelper):
    """The history's before and after of a money field as money, not its eight stored places."""

    def prepare_delta_change_value(self, change: Any, value: Any) -> Any:
        field = self.model._meta.get_field(change.field)
        if isinstance(value, Decimal) and is_money_field(field):
            return money_shown(value)
        if isinstance(value, Decimal):
            return decimal_shown(value)
        return super().prepare_delta_change_value(change, value)


class AuditedAdmin(SimpleHistoryAdmin, TenantScopedAdmin):
    """Every change is kept with who made it, when, and the reason given for it; "History"
    shows before and after."""

    form = AuditedForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj._change_reason = form.cleaned_data.get("change_reason") or None
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Rows edited inline (a model's prices) share the reason given for the page.
        reason = form.cleaned_data.get("change_reason") or None
        for inline_form in formset.forms:
            inline_form.instance._change_reason = reason
        super().save_formset(request, form, formset, change)

    def get_historical_record_context_helper(self, request: HttpRequest, record: Any) -> Any:
        return MoneyHistoryHelper(self.model, record)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None):
        self._visible_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str, **kwargs):
        if not is_row_id(version_id):  # simple_history would int() it: a 500
            raise Http404
        self._visible_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, **kwargs)

    def _visible_or_404(self, request: HttpRequest, object_id: str) -> None:
        # simple_history looks the object up without the tenant-scoped queryset.
        object_id = unquote(object_id)
        if not is_row_id(object_id) or not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404

"""Admin: staff see only their organization's rows; keys are generated and shown once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin import site
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from governance.admin_base import CheckedAdminMixin
from governance.models import (
    AlertRule,
    ApiKey,
    Budget,
    ComplexityBand,
    MatrixModel,
    ModelPrice,
    Project,
)
from tests.governance.factories import (
    AlertRuleFactory,
    ApiKeyFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(project, service):
    other = ServiceFactory.create(
        project__organization__name="globex", project__name="secret-project", name="secret-router"
    )
    admin = UserFactory.create(organization=project.organization, username="ada", role="admin")
    return admin, other.project


def test_staff_lists_only_their_organization(client, two_tenants):
    admin, _other = two_tenants
    client.force_login(admin)
    page = client.get("/admin/governance/project/")
    assert page.status_code == 200
    assert b"support" in page.content and b"secret-project" not in page.content


def test_staff_cannot_open_or_change_another_organization_by_url(client, two_tenants):
    admin, other = two_tenants
    client.force_login(admin)
    assert client.get(f"/admin/governance/project/{other.pk}/change/").status_code in (302, 404)
    response = client.post(f"/admin/governance/project/{other.pk}/change/", {"name": "pwned"})
    assert response.status_code in (302, 404)
    other.refresh_from_db()
    assert other.name == "secret-project"


def test_creating_a_key_in_admin_shows_it_once_and_stores_a_digest(
    client, two_tenants, project, service
):
    admin, _ = two_tenants
    client.force_login(admin)
    response = client.post(
        "/admin/governance/apikey/add/",
        {
            "project": project.pk,
            "service": service.pk,
            "scope": "ingest",
            "name": "ci",
            "rate_limit_per_minute": 100,
        },
        follow=True,
    )
    assert response.status_code == 200
    api_key = ApiKey.objects.get(name="ci")
    shown = [str(m) for m in response.context["messages"]]
    assert any(f"tg_{api_key.prefix}_" in message for message in shown)
    assert api_key.digest and api_key.digest not in response.content.decode()


def test_ingest_key_without_service_is_a_form_error(client, two_tenants, project):
    admin, _ = two_tenants
    client.force_login(admin)
    response = client.post(
        "/admin/governance/apikey/add/",
        {"project": project.pk, "scope": "ingest", "rate_limit_per_minute": 100},
    )
    assert response.status_code == 200  # the form again, with the error
    assert not ApiKey.objects.exists()


def test_non_staff_cannot_reach_admin(client, project):
    user = UserFactory.create(organization=project.organization, username="olivia", role="ops")
    client.force_login(user)
    assert client.get("/admin/governance/project/").status_code == 302
    assert User.objects.get(username="olivia").is_staff is False
    assert Project.objects.count() == 1


def test_list_filters_do_not_name_other_organizations(client, two_tenants):
    admin, _other = two_tenants
    client.force_login(admin)
    for page in (
        "project",
        "service",
        "matrixmodel",
        "modelprice",
        "complexityband",
        "membership",
        "apikey",
    ):
        response = client.get(f"/admin/governance/{page}/")
        assert response.status_code == 200, page
        assert b"globex" not in response.content and b"secret-project" not in response.content, page


def test_membership_form_offers_only_own_or_unassigned_users(client, two_tenants):
    admin, other = two_tenants
    UserFactory.create(organization=other.organization, username="globex-user")
    User.objects.create_user(username="newcomer", password="pw-123-long")
    client.force_login(admin)
    page = client.get("/admin/governance/membership/add/").content.decode()
    assert "newcomer" in page and "ada" in page
    assert "globex-user" not in page


def test_changing_a_role_moves_groups_and_admin_access(client, two_tenants, project):
    admin, _other = two_tenants
    user = UserFactory.create(organization=project.organization, username="bea", role="admin")
    client.force_login(admin)
    membership = user.membership
    response = client.post(
        f"/admin/governance/membership/{membership.pk}/change/",
        {"user": user.pk, "organization": project.organization.pk, "role": "ops"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["ops"]


def test_staff_cannot_create_organizations(client, two_tenants):
    admin, _other = two_tenants
    client.force_login(admin)
    assert client.get("/admin/governance/organization/add/").status_code == 403


def test_issued_key_keeps_scope_and_cannot_be_deleted(client, two_tenants, project, service):
    admin, _other = two_tenants
    api_key = ApiKeyFactory.create(service=service)
    client.force_login(admin)
    client.post(
        f"/admin/governance/apikey/{api_key.pk}/change/",
        {"scope": "read", "name": "renamed", "rate_limit_per_minute": 10},
    )
    api_key.refresh_from_db()
    assert (api_key.scope, api_key.name) == ("ingest", "renamed")
    assert client.get(f"/admin/governance/apikey/{api_key.pk}/delete/").status_code == 403


# --- Ids, lookups and numbers that are not what they claim (issue 12: no 500) --------------


@pytest.mark.parametrize(
    "path",
    [
        "governance/project/abc/history/",
        "governance/project/{pk}/history/abc/",
        "governance/project/{pk}/history/99999999999999999999/",
        "governance/project/abc/change/",
        "governance/project/abc/delete/",
        "governance/project/99999999999999999999/change/",
        "governance/project/-1/change/",
        "governance/project/\u0661\u0662/change/",  # Arabic-Indic 12
        "governance/modelprice/abc/history/",
        "analytics/alert/abc/change/",
    ],
)
def test_ids_that_are_not_ids_are_404(client, two_tenants, project, path):
    """The issue's history views were 500s (ValueError from int()); a change view of "abc"
    redirected to the index as if a row had been deleted."""
    admin, _ = two_tenants
    client.force_login(admin)
    response = client.get("/admin/" + path.format(pk=project.pk))
    assert response.status_code == 404


def test_an_empty_to_field_is_the_primary_key(client, two_tenants, project):
    """Django's admin looked up a field named "" for `?_to_field=` (FieldDoesNotExist, 500)."""
    admin, _ = two_tenants
    client.force_login(admin)
    for view, shown in (("change", "original"), ("delete", "object")):
        response = client.get(f"/admin/governance/project/{project.pk}/{view}/?_to_field=")
        assert response.status_code == 200 and response.context[shown] == project
    assert client.get("/admin/governance/project/abc/change/?_to_field=").status_code == 404


def test_every_admin_of_the_site_is_checked():
    """Ours by inheritance; Django's (and any other app's, such as axes') by admins_check."""
    unchecked = [
        model._meta.label
        for model, model_admin in site._registry.items()
        if not isinstance(model_admin, CheckedAdminMixin)
    ]
    assert unchecked == []
    assert {"auth.User", "auth.Group"} <= {model._meta.label for model in site._registry}


def test_djangos_own_user_and_group_admins_check_ids_too(client, project):
    superuser = User.objects.create_superuser("root", password="pw-123-long")
    client.force_login(superuser)
    for path in ("user/abc/change/", "user/abc/password/", "group/abc/history/"):
        assert client.get(f"/admin/auth/{path}").status_code == 404, path
    response = client.get(f"/admin/auth/user/{superuser.pk}/change/?_to_field=")
    assert response.status_code == 200


def test_real_ids_still_open_their_pages(client, two_tenants, project):
    admin, _ = two_tenants
    client.force_login(admin)
    version = project.history.first().history_id
    for path in ("change/", "history/", f"history/{version}/"):
        assert client.get(f"/admin/governance/project/{project.pk}/{path}").status_code == 200


@pytest.mark.parametrize(
    ("changelist", "query"),
    [
        ("modelprice", "effective_from__year=99999999999999999999"),  # overflows datetime()
        ("modelprice", "effective_from__year=9999"),  # its year's end is past the calendar
        ("modelprice", "effective_from__year=9999&effective_from__month=12&effective_from__day=31"),
        ("modelprice", "effective_from__year=2026&effective_from__month=99999999999999999999"),
        ("apikey", "revoked_at__year=99999999999999999999"),  # a list filter's own lookup
        ("apikey", "revoked_at__year=10000"),
    ],
)
def test_date_garbage_in_a_changelist_is_a_bad_lookup(client, two_tenants, changelist, query):
    """Django's answer to a bad lookup: the list again with ?e=1 (these were 500s)."""
    admin, _ = two_tenants
    client.force_login(admin)
    response = client.get(f"/admin/governance/{changelist}/?{query}")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_a_real_year_still_filters_the_changelist(client, two_tenants, project):
    admin, _ = two_tenants
    client.force_login(admin)
    price = ModelPrice.objects.filter(model__project=project).first()
    assert price is not None
    year = price.effective_from.year
    response = client.get(f"/admin/governance/modelprice/?effective_from__year={year}")
    assert response.status_code == 200
    expected = ModelPrice.objects.filter(model__project=project, effective_from__year=year)
    assert response.context["cl"].result_count == expected.count() > 0


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Budget, "amount_usd"),
        (ModelPrice, "input_per_1k"),
        (ComplexityBand, "min_score"),
        (AlertRule, "threshold"),
        (Project, "retention_days"),
    ],
)
def test_admin_numbers_take_the_digits_0_to_9_only(rf, two_tenants, model, field):
    """Django's number fields read "١٢" as 12; the admin's refuse it, naming the field."""
    admin_user, _ = two_tenants
    request = rf.get("/")
    request.user = admin_user
    form_class = site._registry[model].get_form(request)
    refused = form_class(data={field: "\u0661\u0662"})
    assert not refused.is_valid()
    assert refused.errors[field] == ["Enter a number written with the digits 0-9."]
    accepted = form_class(data={field: "12"})
    accepted.is_valid()
    assert field not in accepted.errors


def test_inline_prices_take_the_digits_0_to_9_only(rf, two_tenants):
    admin_user, _ = two_tenants
    request = rf.get("/")
    request.user = admin_user
    matrix_admin = site._registry[MatrixModel]
    (inline,) = [i for i in matrix_admin.get_inline_instances(request) if i.model is ModelPrice]
    price_field = inline.get_formset(request).form.base_fields["input_per_1k"]
    with pytest.raises(ValidationError):
        price_field.clean("\u0661\u0662")
    assert price_field.clean("12") == 12


def test_alert_rule_thresholds_are_listed_as_typed(client, two_tenants, project):
    """numeric(20, 8) keeps eight places; the list shows 0.02, not 0.02000000, and a blank
    threshold as the kind's default."""
    admin, _other = two_tenants
    AlertRuleFactory.create(project=project, name="typed", threshold=Decimal("0.02"))
    AlertRuleFactory.create(project=project, name="blank", kind="error_rate", threshold=None)
    client.force_login(admin)
    page = client.get("/admin/governance/alertrule/").content.decode()
    assert '<td class="field-threshold_shown">0.02</td>' in page
    assert "0.02000000" not in page
    assert '<td class="field-threshold_shown">default (0.05)</td>' in page

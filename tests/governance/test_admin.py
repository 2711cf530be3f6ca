"""Admin: staff see only their organization's rows; keys are generated and shown once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from governance.models import ApiKey, Project
from tests.governance.factories import ApiKeyFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(project, service):
    other = ServiceFactory(
        project__organization__name="globex", project__name="secret-project", name="secret-router"
    )
    admin = UserFactory(organization=project.organization, username="ada", role="admin")
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
    user = UserFactory(organization=project.organization, username="olivia", role="ops")
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
    UserFactory(organization=other.organization, username="globex-user")
    User.objects.create_user(username="newcomer", password="pw-123-long")
    client.force_login(admin)
    page = client.get("/admin/governance/membership/add/").content.decode()
    assert "newcomer" in page and "ada" in page
    assert "globex-user" not in page


def test_changing_a_role_moves_groups_and_admin_access(client, two_tenants, project):
    admin, _other = two_tenants
    user = UserFactory(organization=project.organization, username="bea", role="admin")
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
    api_key = ApiKeyFactory(service=service)
    client.force_login(admin)
    client.post(
        f"/admin/governance/apikey/{api_key.pk}/change/",
        {"scope": "read", "name": "renamed", "rate_limit_per_minute": 10},
    )
    api_key.refresh_from_db()
    assert (api_key.scope, api_key.name) == ("ingest", "renamed")
    assert client.get(f"/admin/governance/apikey/{api_key.pk}/delete/").status_code == 403

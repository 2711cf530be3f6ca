"""Who gets in: sign-in (its throttling is tested in tests/governance/test_login.py), sign-out
by POST, members only, the admin link for staff only."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.services import user_create
from tests.dashboard.conftest import PASSWORD

pytestmark = pytest.mark.django_db
PAGES = [
    "/dashboard/",
    "/dashboard/reliability/",
    "/dashboard/enforcement/",
    "/dashboard/routing/",
    "/dashboard/cost/",
    "/dashboard/alerts/",
    "/dashboard/cost.csv",
]


@pytest.fixture
def olivia(organization):
    return user_create(organization=organization, username="olivia", role="ops", password=PASSWORD)


def sign_in(client: Client, password: str, *, address: str = "10.0.0.1", next_url: str = ""):
    return client.post(
        "/accounts/login/",
        {"username": "olivia", "password": password, "next": next_url},
        REMOTE_ADDR=address,
    )


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(url):
    response = Client().get(url + "?range=7d")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


def test_root_goes_to_the_overview():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


@pytest.mark.parametrize("url", PAGES)
def test_a_user_without_organization_is_refused(url, django_user_model):
    stranger = django_user_model.objects.create_user(username="stranger", password=PASSWORD)
    client = Client()
    client.force_login(stranger)
    response = client.get(url)
    assert response.status_code == 403
    assert b"not a member of any organization" in response.content


def test_sign_in_returns_to_the_page_asked_for(olivia):
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = sign_in(client, PASSWORD, next_url="/dashboard/cost/?range=7d")
    assert response.status_code == 302 and response["Location"] == "/dashboard/cost/?range=7d"
    assert client.get("/dashboard/cost/?range=7d").status_code == 200


def test_sign_out_is_a_post(olivia):
    client = Client()
    client.force_login(olivia)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/dashboard/").status_code == 302


def test_sign_out_needs_the_csrf_token(olivia):
    client = Client(enforce_csrf_checks=True)
    client.force_login(olivia)
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get("/dashboard/").status_code == 200  # still signed in


@pytest.mark.parametrize(("role", "shown"), [("ops", False), ("finance", False), ("admin", True)])
def test_the_admin_link_is_for_staff_only(member, role, shown):
    page = member(role).get("/dashboard/").content.decode()
    assert ('id="admin-link"' in page) is shown
    assert "Sign out" in page

"""Who gets in: sign-in with throttled attempts, sign-out by POST, members only, the admin
link for staff only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from governance.models import LoginAttemptWindow
from governance.services import LOGIN_ATTEMPTS_ALLOWED, user_create
from governance.tasks import rate_windows_prune_task
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
    assert not LoginAttemptWindow.objects.exists()  # a success clears the count


def test_wrong_passwords_are_throttled_then_the_period_frees_up(olivia):
    client = Client()
    for _ in range(LOGIN_ATTEMPTS_ALLOWED):
        refused = sign_in(client, "wrong")
        assert refused.status_code == 200 and b"correct username and password" in refused.content
    throttled = sign_in(client, PASSWORD)  # even the right password waits now
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert b"Too many failed sign-in attempts" in throttled.content
    assert "_auth_user_id" not in client.session

    # Another address is counted apart (one user mistyping does not lock out the office).
    assert sign_in(Client(), PASSWORD, address="10.0.0.2").status_code == 302

    # Fifteen minutes later the earlier attempts no longer count.
    LoginAttemptWindow.objects.update(window_start=F("window_start") - timedelta(minutes=16))
    assert sign_in(client, PASSWORD).status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_one_username_tried_from_many_addresses_is_throttled(olivia, monkeypatch):
    monkeypatch.setattr("governance.services.LOGIN_ATTEMPTS_PER_USERNAME", 3)
    for index in range(3):
        assert sign_in(Client(), "wrong", address=f"10.1.0.{index}").status_code == 200
    throttled = sign_in(Client(), PASSWORD, address="10.1.0.99")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert b"Too many failed sign-in attempts" in throttled.content


def test_one_address_trying_many_usernames_is_throttled(olivia, monkeypatch):
    monkeypatch.setattr("governance.services.LOGIN_ATTEMPTS_PER_ADDRESS", 3)
    client = Client()
    for name in ("admin", "root", "finance"):
        response = client.post(
            "/accounts/login/", {"username": name, "password": "guess"}, REMOTE_ADDR="10.0.0.7"
        )
        assert response.status_code == 200
    assert sign_in(client, PASSWORD, address="10.0.0.7").status_code == 429
    assert sign_in(Client(), PASSWORD, address="10.0.0.8").status_code == 302


def test_the_admin_sign_in_is_throttled_too(olivia):
    client = Client()
    for _ in range(LOGIN_ATTEMPTS_ALLOWED):
        client.post(
            "/admin/login/", {"username": "olivia", "password": "wrong"}, REMOTE_ADDR="10.0.0.3"
        )
    response = client.post(
        "/admin/login/", {"username": "olivia", "password": PASSWORD}, REMOTE_ADDR="10.0.0.3"
    )
    assert b"Too many failed sign-in attempts" in response.content


def test_stale_sign_in_counters_are_pruned(olivia):
    sign_in(Client(), "wrong")
    LoginAttemptWindow.objects.update(window_start=F("window_start") - timedelta(hours=1))
    sign_in(Client(), "wrong", address="10.0.0.9")  # a fresh one stays
    # Each attempt has three counters: username and address, username, address.
    assert rate_windows_prune_task() == 3
    assert LoginAttemptWindow.objects.count() == 3


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

"""Sign-in throttling on django-axes, through the dashboard's and the admin's sign-in pages:
failures count per username with one address and per address for any username, never per
username alone; a success clears its pair; X-Forwarded-For counts only behind trusted proxies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from governance.login import client_address
from governance.services import user_create
from governance.tasks import rate_windows_prune_task

pytestmark = pytest.mark.django_db
PASSWORD = "pw-123-long-enough"
PAIR_LIMIT = settings.AXES_FAILURE_LIMIT
ADDRESS_LIMIT = settings.TOLLGATE_SIGNIN_FAILURES_PER_ADDRESS
COOL_OFF_S = int(settings.AXES_COOLOFF_TIME.total_seconds())


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # Each failure hashes a password; the default hasher would make dozens of them slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def olivia(organization) -> User:
    return user_create(organization=organization, username="olivia", role="ops", password=PASSWORD)


@pytest.fixture
def ada(organization) -> User:
    """A tenant admin (staff, not superuser)."""
    return user_create(organization=organization, username="ada", role="admin", password=PASSWORD)


def sign_in(
    password: str,
    *,
    username: str = "olivia",
    address: str = "10.0.0.1",
    page: str = "/accounts/login/",
    client: Client | None = None,
    **headers: Any,
):
    """One POST to a sign-in page from `address` (REMOTE_ADDR)."""
    return (client or Client()).post(
        page, {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def refused(response) -> bool:
    """Whether the answer is the lockout: 429, Retry-After within the cool-off, the page."""
    if response.status_code != 429:
        return False
    assert 0 < int(response["Retry-After"]) <= COOL_OFF_S
    assert b"Too many failed sign-in attempts" in response.content
    return True


def wrong_password(response) -> bool:
    """Whether the answer is the sign-in page again with the usual error (not a lockout)."""
    return response.status_code == 200 and b"correct username and password" in response.content


def test_the_limits_are_ordered():
    assert 0 < PAIR_LIMIT < ADDRESS_LIMIT
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"], "ip_address"]


def test_failures_from_many_addresses_never_lock_a_user_out_of_a_clean_one(olivia):
    # The attack: anyone sends wrong passwords for olivia from many addresses.
    for index in range(25):
        assert wrong_password(sign_in("wrong", address=f"10.1.0.{index}"))
    response = sign_in(PASSWORD, address="10.9.9.9")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


def test_a_pair_is_locked_at_its_limit_and_even_the_right_password_waits(olivia):
    client = Client()
    for _ in range(PAIR_LIMIT - 1):
        assert wrong_password(sign_in("wrong", client=client))
    assert refused(sign_in("wrong", client=client))  # the failure that reaches the limit
    response = sign_in(PASSWORD, client=client)
    assert refused(response)
    assert int(response["Retry-After"]) > COOL_OFF_S - 60
    assert "_auth_user_id" not in client.session
    # Only the pair is locked: olivia from elsewhere, and others from here, are let through.
    assert sign_in(PASSWORD, address="10.0.0.2").status_code == 302
    assert wrong_password(sign_in("wrong", username="oscar"))
    # Once the failures are older than the cool-off, the pair is free again.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert sign_in(PASSWORD, client=client).status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_attempts_while_locked_are_not_counted(olivia):
    for _ in range(PAIR_LIMIT):
        sign_in("wrong")
    for _ in range(3):
        assert refused(sign_in(PASSWORD))
    assert AccessAttempt.objects.get().failures_since_start == PAIR_LIMIT


def test_an_address_is_limited_for_any_username(olivia):
    for index in range(ADDRESS_LIMIT - 1):
        assert wrong_password(sign_in("guess", username=f"user-{index}", address="203.0.113.7"))
    assert refused(sign_in("guess", username="root", address="203.0.113.7"))
    assert refused(sign_in(PASSWORD, address="203.0.113.7"))  # a name never tried from there
    assert sign_in(PASSWORD, address="203.0.113.8").status_code == 302  # elsewhere: fine


def test_a_success_clears_its_pair(olivia):
    for _ in range(PAIR_LIMIT - 1):
        assert wrong_password(sign_in("wrong"))
    assert sign_in(PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()
    for _ in range(PAIR_LIMIT - 1):
        assert wrong_password(sign_in("wrong"))  # counting starts from zero again
    assert refused(sign_in("wrong"))


def test_a_success_does_not_clear_the_addresss_failures_for_other_names(olivia):
    # A guesser with one valid account must not be able to wipe the address's count.
    for index in range(ADDRESS_LIMIT - 1):
        sign_in("guess", username=f"user-{index}", address="203.0.113.7")
    assert sign_in(PASSWORD, address="203.0.113.7").status_code == 302
    assert refused(sign_in("guess", username="root", address="203.0.113.7"))


def test_retry_after_waits_for_the_failure_that_reached_the_limit(olivia):
    for _ in range(PAIR_LIMIT):
        sign_in("wrong")
    # Ten minutes on, five minutes of the cool-off are left.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10))
    response = sign_in(PASSWORD)
    assert refused(response)
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60
    assert b"Try again in 5 minutes" in response.content


def test_the_admin_sign_in_answers_429_with_retry_after_too(ada):
    for _ in range(PAIR_LIMIT - 1):
        response = sign_in("wrong", username="ada", page="/admin/login/")
        assert response.status_code == 200 and b"correct username and password" in response.content
    assert refused(sign_in("wrong", username="ada", page="/admin/login/"))
    response = sign_in(PASSWORD, username="ada", page="/admin/login/")
    assert refused(response)
    assert b'href="/admin/login/"' in response.content  # back to the page it came from
    # The two pages share the counters: one door locked is the other locked.
    assert refused(sign_in(PASSWORD, username="ada"))
    assert (
        sign_in(PASSWORD, username="ada", page="/admin/login/", address="10.0.0.2").status_code
        == 302
    )


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "", "192.0.2.1"),
        (0, "198.51.100.9", "192.0.2.1"),  # not trusted: the header is the client's to write
        (1, "198.51.100.9", "198.51.100.9"),
        (1, "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # the proxy appended the last one
        (2, "6.6.6.6, 198.51.100.9, 10.0.0.5", "198.51.100.9"),  # client, then the 1st proxy
        (2, "198.51.100.9, 10.0.0.5", "198.51.100.9"),
        (2, "10.0.0.5", "192.0.2.1"),  # fewer hops than proxies: not through them all
        (1, "", "192.0.2.1"),
        (1, "6.6.6.6, not-an-address", "192.0.2.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_takes_the_trusted_hop(settings, proxies, forwarded, expected):
    settings.TOLLGATE_TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.1", **headers)
    assert client_address(request) == expected


def test_without_trusted_proxies_a_forged_header_does_not_dodge_the_lock(olivia):
    for index in range(PAIR_LIMIT):
        sign_in("wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{index}")
    assert refused(sign_in(PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99"))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}


@override_settings(TOLLGATE_TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_clients_are_counted_apart(olivia):
    # Every request comes from the proxy's address; the header says who is behind it.
    for _ in range(PAIR_LIMIT):
        sign_in("wrong", address="10.0.0.254", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1")
    assert refused(sign_in(PASSWORD, address="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.1"))
    other = sign_in(PASSWORD, address="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.status_code == 302
    assert AccessAttempt.objects.get().ip_address == "198.51.100.1"
    assert AccessLog.objects.get().ip_address == "198.51.100.2"


@override_settings(TOLLGATE_TRUSTED_PROXY_COUNT=2)
def test_behind_two_trusted_proxies_the_second_hop_from_the_right_is_the_client(olivia):
    # Load balancer, then a reverse proxy: the header ends "client, load balancer".
    for index in range(PAIR_LIMIT):
        sign_in(
            "wrong",
            address="10.0.0.254",
            HTTP_X_FORWARDED_FOR=f"6.6.6.{index}, 198.51.100.1, 10.0.0.253",
        )
    assert refused(
        sign_in(PASSWORD, address="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.1, 10.0.0.253")
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.1"}


def test_only_superusers_see_sign_in_records(client, olivia, ada):
    sign_in("wrong")  # an AccessAttempt naming olivia and her address
    client.force_login(ada)  # a tenant admin: staff of one organization
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    assert client.get("/admin/axes/accesslog/").status_code == 403
    assert b"/admin/axes/" not in client.get("/admin/").content
    root = User.objects.create_superuser(username="root", password=PASSWORD)
    client.force_login(root)
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"olivia" in page.content


def test_stale_sign_in_records_are_pruned(olivia):
    for stale, fresh in (("10.0.0.1", "10.0.0.3"), ("10.0.0.2", "10.0.0.4")):
        sign_in("wrong", address=stale)
        sign_in("wrong", address=fresh)
    sign_in(PASSWORD, address="10.0.0.5")
    sign_in(PASSWORD, address="10.0.0.6")
    AccessAttempt.objects.filter(ip_address__in=["10.0.0.1", "10.0.0.2"]).update(
        attempt_time=F("attempt_time") - timedelta(minutes=16)
    )
    AccessLog.objects.filter(ip_address="10.0.0.5").update(
        attempt_time=timezone.now() - timedelta(days=settings.TOLLGATE_SIGNIN_LOG_DAYS + 1)
    )
    assert rate_windows_prune_task() == 3
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "10.0.0.3",
        "10.0.0.4",
    }
    assert list(AccessLog.objects.values_list("ip_address", flat=True)) == ["10.0.0.6"]


def test_the_hand_written_counters_table_is_gone():
    assert "governance_loginattemptwindow" not in connection.introspection.table_names()
    assert "axes_accessattempt" in connection.introspection.table_names()

"""Sign-in throttling: failures counted per username and address, per username from any
address, and per address for any username; successes count against none of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.models import LoginAttemptWindow
from governance.services import (
    LOGIN_ATTEMPTS_ALLOWED,
    LOGIN_ATTEMPTS_PER_ADDRESS,
    LOGIN_ATTEMPTS_PER_USERNAME,
    LoginThrottled,
    login_attempt_authenticate,
    login_attempt_register,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 10, 30, 12, tzinfo=UTC)


def failed(username: str, address: str, now: datetime = NOW) -> bool:
    """One failed sign-in; whether it was allowed to check the password."""
    return login_attempt_register(username=username, client_ip=address, now=now).allowed


def signed_in(username: str, address: str, now: datetime = NOW) -> None:
    login_attempt_authenticate(
        username=username, client_ip=address, now=now, authenticate=lambda: None
    )


def test_the_limits_are_ordered():
    assert LOGIN_ATTEMPTS_ALLOWED < LOGIN_ATTEMPTS_PER_USERNAME < LOGIN_ATTEMPTS_PER_ADDRESS


def test_one_username_from_many_addresses_is_throttled():
    # One failure from each address: under every pair's limit, but not under the username's.
    for index in range(LOGIN_ATTEMPTS_PER_USERNAME):
        assert failed("Olivia", f"10.1.0.{index}")
    refused = login_attempt_register(username="olivia ", client_ip="10.9.9.9", now=NOW)
    assert not refused.allowed
    assert 0 < refused.retry_after_s <= 15 * 60
    assert failed("oscar", "10.9.9.9")  # another user from the same address is not held up
    # Fifteen minutes after the first failure the username is free again.
    assert failed("olivia", "10.9.9.8", NOW + timedelta(minutes=15))


def test_one_address_trying_many_usernames_is_throttled():
    for index in range(LOGIN_ATTEMPTS_PER_ADDRESS):
        assert failed(f"user-{index}", "203.0.113.7")
    assert not failed("olivia", "203.0.113.7")  # a name never tried from there
    assert failed("olivia", "203.0.113.8")  # the same name from elsewhere is not held up


def test_a_pair_is_still_limited_first():
    for _ in range(LOGIN_ATTEMPTS_ALLOWED):
        assert failed("olivia", "10.0.0.1")
    assert not failed("olivia", "10.0.0.1")
    assert failed("olivia", "10.0.0.2")


def test_successes_count_against_no_limit():
    # An office behind one address signs in all morning: none of it is a failure.
    for index in range(LOGIN_ATTEMPTS_PER_ADDRESS + 5):
        signed_in(f"colleague-{index % 3}", "198.51.100.1")
    assert failed("olivia", "198.51.100.1")
    # Only olivia's failure is left: once for her and the address, her name, the address.
    assert sum(LoginAttemptWindow.objects.values_list("count", flat=True)) == 3


def test_a_success_clears_the_pairs_failures_only():
    for _ in range(LOGIN_ATTEMPTS_ALLOWED - 1):
        failed("olivia", "10.0.0.1")
    signed_in("olivia", "10.0.0.1")
    for _ in range(LOGIN_ATTEMPTS_ALLOWED):
        assert failed("olivia", "10.0.0.1")  # the pair starts from zero again


def test_past_a_limit_the_password_is_not_checked():
    for index in range(LOGIN_ATTEMPTS_PER_USERNAME):
        failed("olivia", f"10.2.0.{index}")
    checked = []
    with pytest.raises(LoginThrottled) as refused:
        login_attempt_authenticate(
            username="olivia", client_ip="10.3.0.1", now=NOW, authenticate=lambda: checked.append(1)
        )
    assert checked == []
    assert refused.value.decision.retry_after_s > 0
    assert "Too many failed sign-in attempts" in str(refused.value)

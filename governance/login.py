"""Sign-in forms that throttle attempts per username and client address (DESIGN.md
"Reliability and security": login throttling), for the dashboard's login and the admin's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest
from django.utils import timezone

from governance.services import (
    LOGIN_ATTEMPTS_PERIOD,
    RateDecision,
    login_attempt_register,
    login_attempts_clear,
)

THROTTLED = "throttled"


def client_ip(request: HttpRequest | None) -> str:
    """The peer address; forwarded headers are not trusted (a client could set them)."""
    return (request.META.get("REMOTE_ADDR") or "unknown") if request else "unknown"


class ThrottledAuthenticationMixin:
    """Counts each attempt before the password is checked and refuses past the limit.

    `throttled` holds the refusal, so a view can answer 429 with Retry-After.
    """

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    throttled: RateDecision | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # type: ignore[misc]  # no attempt is made
        address = client_ip(self.request)
        decision = login_attempt_register(username=username, client_ip=address, now=timezone.now())
        if not decision.allowed:
            self.throttled = decision
            minutes = int(LOGIN_ATTEMPTS_PERIOD.total_seconds() // 60)
            raise forms.ValidationError(
                f"Too many failed sign-in attempts. Wait {_wait(decision.retry_after_s)} "
                f"and try again (at most a few tries per {minutes} minutes).",
                code=THROTTLED,
            )
        cleaned = super().clean()  # type: ignore[misc]
        login_attempts_clear(username=username, client_ip=address)
        return cleaned


def _wait(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class ThrottledAuthenticationForm(ThrottledAuthenticationMixin, AuthenticationForm):
    """The dashboard's sign-in form."""


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationMixin, AdminAuthenticationForm):
    """The admin's sign-in form, under the same limit (it is another door to the same users)."""

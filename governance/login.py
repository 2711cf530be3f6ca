"""The admin's sign-in form, throttled like the dashboard's (DESIGN.md "Reliability and
security": login throttling); counting, limits and refusal are in governance.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django.utils import timezone

from governance.services import LoginThrottled, RateDecision, login_attempt_authenticate

THROTTLED = "throttled"


def client_ip(request: HttpRequest | None) -> str:
    """The peer address; forwarded headers are not trusted (a client could set them)."""
    return (request.META.get("REMOTE_ADDR") or "unknown") if request else "unknown"


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form: another door to the same users, under the same limits."""

    throttled: RateDecision | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # no attempt is made
        try:
            return login_attempt_authenticate(
                username=username,
                client_ip=client_ip(self.request),
                now=timezone.now(),
                authenticate=super().clean,
            )
        except LoginThrottled as refused:
            self.throttled = refused.decision
            raise forms.ValidationError(str(refused), code=THROTTLED) from None

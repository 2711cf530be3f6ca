"""Sign-in and sign-out for the dashboard: Django's auth views with a form whose attempts go
through governance's throttled sign-in service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from django.utils import timezone

from governance.services import LoginThrottled, RateDecision, login_attempt_authenticate


class DashboardAuthenticationForm(AuthenticationForm):
    """The sign-in form; `throttled` holds a refusal past the attempt limits."""

    throttled: RateDecision | None = None

    def clean(self) -> dict[str, Any]:
        """Count the attempt and check the password, unless a limit refuses it first."""
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # no attempt is made
        # The peer address: forwarded headers are not trusted (a client could set them).
        address = self.request.META.get("REMOTE_ADDR") if self.request else None
        try:
            return login_attempt_authenticate(
                username=username,
                client_ip=address or "unknown",
                now=timezone.now(),
                authenticate=super().clean,
            )
        except LoginThrottled as refused:
            self.throttled = refused.decision
            raise forms.ValidationError(str(refused), code="throttled") from None


class DashboardLoginView(LoginView):
    """The login page; past an attempt limit it answers 429 with Retry-After."""

    template_name = "registration/login.html"
    authentication_form = DashboardAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        """The page again with its errors; 429 and Retry-After when throttled."""
        response = super().form_invalid(form)
        decision = getattr(form, "throttled", None)
        if decision is not None:
            response.status_code = 429
            response["Retry-After"] = str(decision.retry_after_s)
        return response

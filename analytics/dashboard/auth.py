"""Sign-in and sign-out for the dashboard: Django's auth views with a form whose attempts go
through governance's throttled sign-in service."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpResponse

from governance.services import ThrottledLoginMixin


class DashboardAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """The sign-in form, under the sign-in limits."""


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

"""Sign-in and sign-out for the dashboard: Django's auth views with the throttled form."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import LoginView
from django.http import HttpResponse

from governance.login import ThrottledAuthenticationForm


class DashboardLoginView(LoginView):
    """The login page; past the attempt limit it answers 429 with Retry-After."""

    template_name = "registration/login.html"
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        decision = getattr(form, "throttled", None)
        if decision is not None:
            response.status_code = 429
            response["Retry-After"] = str(decision.retry_after_s)
        return response

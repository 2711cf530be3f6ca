"""Sign-in and sign-out for the dashboard: Django's auth views. Sign-in attempts are throttled
by django-axes (governance.login): past a limit its middleware answers 429 with Retry-After
in place of this page."""

from __future__ import annotations

from django.contrib.auth.views import LoginView


class DashboardLoginView(LoginView):
    """The login page."""

    template_name = "registration/login.html"

"""The admin's sign-in form, throttled like the dashboard's (DESIGN.md "Reliability and
security": login throttling); counting, limits and refusal are in governance.services."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm

from governance.services import ThrottledLoginMixin


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's sign-in form: another door to the same users, under the same limits."""

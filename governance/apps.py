from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """What the policy IS: tenants, keys, the model matrix and its prices, budgets and rules."""

    name = "governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import openapi  # noqa: F401 - registers the schema extension
        from governance.admin import admins_check

        # Every app's admin is registered by now (the admin app, listed first, autodiscovers).
        admins_check()

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    """What the policy IS: tenants, keys, the model matrix and its prices, budgets and rules."""

    name = "governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import (
            admin_users,  # noqa: F401 - registers the members' user admin
            openapi,  # noqa: F401 - registers the schema extension
        )
        from governance.admin_base import admins_check

        # Every app's admin is registered by now (the admin app, listed first, autodiscovers).
        admins_check()
        post_migrate.connect(role_groups_refresh, dispatch_uid="governance.role_groups")


def role_groups_refresh(sender: AppConfig, **kwargs: Any) -> None:
    """After each app's migrations (and the permissions Django makes for them), give the role
    groups of an existing database the permissions they are given now."""
    from governance.services import role_groups_ensure

    if kwargs.get("using", "default") == "default":
        role_groups_ensure()

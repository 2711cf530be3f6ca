from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """What it MEANS: rollups, metrics, alerts, notifications and the dashboard."""

    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from analytics.repricing import receivers  # noqa: F401  (connects the repricing receivers)

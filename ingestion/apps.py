from django.apps import AppConfig


class IngestionConfig(AppConfig):
    """What HAPPENED: the event schema, its validation, the ingest API and the raw tables."""

    name = "ingestion"
    default_auto_field = "django.db.models.BigAutoField"

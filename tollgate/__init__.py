"""Tollgate project package: settings, URLs, the Celery app and the embedded-service bootstrap."""

from tollgate.celery import app as celery_app

__all__ = ["celery_app"]

"""WSGI entry point for gunicorn (and `runserver`, through WSGI_APPLICATION)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from tollgate.db import database_timeouts_use
from tollgate.heap import heap_settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tollgate.settings")

application = get_wsgi_application()
# This process serves requests: a hung database must answer 503 within seconds (tollgate/db).
database_timeouts_use(timeouts=settings.TOLLGATE_DATABASE_TIMEOUTS["web"])
# Loaded: the collector need not walk the application's own objects again (tollgate/heap).
heap_settle()

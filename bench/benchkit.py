"""What every benchmark here starts with: Django configured from tollgate.settings, schema
up to date. The scripts run as `python bench/<name>.py`, so this module is importable as-is."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    """Configure Django from tollgate.settings and bring the schema up to date."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tollgate.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

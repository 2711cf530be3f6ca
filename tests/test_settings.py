"""Run modes: production settings pass Django's deployment checks; the integration run uses
the machine's PostgreSQL from DATABASE_URL, not the embedded server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/unused"
        ),
        "SECRET_KEY": "production-like-" + "s3cr3t" * 10,
        "ALLOWED_HOSTS": "tollgate.example.com",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SECURE_SSL_REDIRECT", None)
    env.pop("DEBUG", None)
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


def test_production_requires_a_secret_key():
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/unused",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SECRET_KEY", None)
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0
    assert "SECRET_KEY must be set" in completed.stderr


@pytest.mark.integration
@pytest.mark.django_db
def test_integration_run_uses_the_machine_postgresql():
    assert os.environ.get("DATABASE_URL"), "integration tests run with DATABASE_URL set (.ci/run)"
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_addr()::text, inet_server_port()")
        address, port = cursor.fetchone()
    assert address.startswith("127.0.0.1") and port == 5432

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


def test_the_embedded_secret_key_is_made_once_per_data_dir(tmp_path):
    from tollgate.embedded import embedded_secret_key

    first = embedded_secret_key(tmp_path / "data")
    assert embedded_secret_key(tmp_path / "data") == first  # a restart: the same key
    assert len(first) >= 50
    assert (tmp_path / "data" / "secret-key").stat().st_mode & 0o777 == 0o600
    assert embedded_secret_key(tmp_path / "fresh") != first  # another checkout: its own
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == ["secret-key"]


def test_processes_starting_together_agree_on_the_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from tollgate.embedded import embedded_secret_key

    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: embedded_secret_key(tmp_path), range(32)))
    assert len(keys) == 1


def test_settings_loaded_again_sign_with_the_same_key():
    """Another process (a restart, a gunicorn worker, Celery) loads the key this one has."""
    from django.conf import settings

    from tollgate.embedded import DATA_DIR, embedded_secret_key

    if os.environ.get("DATABASE_URL") or os.environ.get("SECRET_KEY"):
        pytest.skip("the embedded mode's key only")
    assert settings.SECRET_KEY == embedded_secret_key() == (DATA_DIR / "secret-key").read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tollgate.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == settings.SECRET_KEY

"""Embedded PostgreSQL and secret key for the zero-configuration run mode (no DATABASE_URL).

The server comes from the `pgserver` package and keeps its data in `.data/pgdata` of the
project. Every process that needs the database calls `embedded_database()`: the first one
starts the server, later ones attach to it; pgserver stops it when the last attached process
exits, so `make demo` and `make test` leave nothing running behind them.

`embedded_secret_key()` is the mode's SECRET_KEY: made once per checkout and kept in `.data`,
so sessions and CSRF tokens outlive a restart.
"""

from __future__ import annotations

import os
import secrets
import warnings
from functools import cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / ".data"
DATABASE_NAME = "tollgate"
SECRET_KEY_FILE = "secret-key"  # noqa: S105 (a file name, not a key)
SECRET_KEY_MIN_CHARS = 50  # Django's own check asks for at least 50 characters


@cache
def embedded_database() -> dict[str, Any]:
    """Start (or attach to) the embedded server and return Django's settings for it."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR platformdirs warns, then picks a per-user folder in /tmp,
        # which is all pgserver's cross-process lock needs.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: production processes never load it

    pgdata = DATA_DIR / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(pgdata),  # a Unix socket folder: the embedded server listens on no port
        "PORT": "",
    }


def embedded_secret_key(data_dir: Path = DATA_DIR) -> str:
    """The key in `data_dir/secret-key`, made with `secrets` (mode 0600) the first time.

    Kept rather than made per process: gunicorn's workers, Celery and a restarted demo must
    all sign with the same key, or every restart signs everyone out. Processes starting
    together agree: the key is written aside and linked into place, and only the first link
    wins.
    """
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f"{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(SECRET_KEY_MIN_CHARS))
        try:
            os.link(temporary, path)  # atomic; never replaces a key another process made
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    key = path.read_text().strip()
    if len(key) < SECRET_KEY_MIN_CHARS:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to make a new one.")
    return key

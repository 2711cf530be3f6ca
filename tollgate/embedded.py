"""Embedded PostgreSQL for the zero-configuration run mode (no DATABASE_URL set).

The server comes from the `pgserver` package and keeps its data in `.data/pgdata` of the
project. Every process that needs the database calls `embedded_database()`: the first one
starts the server, later ones attach to it; pgserver stops it when the last attached process
exits, so `make demo` and `make test` leave nothing running behind them.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / ".data"
DATABASE_NAME = "tollgate"


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

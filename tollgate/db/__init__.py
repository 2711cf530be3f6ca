"""How long Tollgate waits on PostgreSQL, by the kind of work a process does.

A web request answers within about 10 s even when PostgreSQL hangs (stopped, or stuck on its
disk): `connect_timeout` bounds reaching the server, `statement_timeout` lets a live server
cancel a slow statement, and the client's own wait limit (the backend in `tollgate.db.base`)
gives up on a server that answers nothing at all, which no server-side setting can do. The
answer is then a 503 with Retry-After (`tollgate.middleware`).

Jobs (Celery tasks, management commands and the extra connections they open with
`connection.get_connection_params()`) do long work on purpose and get their own, longer
statement timeout. The settings hold the jobs' timeouts, so every process is a job unless it
serves requests: `tollgate/wsgi.py` (gunicorn, and `runserver` through WSGI_APPLICATION)
switches to the web's with `database_timeouts_use`.

Every connection also turns PostgreSQL's JIT compilation off. Tollgate's statements read index
ranges of rollups and raw events; the planner's row estimates for the larger ones (unnested
spans joined to partitions, OR-ed ranges) pass `jit_above_cost`, and compiling then costs 20 to
30 ms on a statement that runs in 2: most of a dashboard page's time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ENGINE = "tollgate.db"  # Django's PostgreSQL backend with a client-side wait limit

# Past the statement timeout, for a live server's own cancellation to come back first.
WAIT_GRACE_S = 2

# libpq ignores these on a Unix socket (the embedded mode); over TCP a peer that vanished
# (host down, network cut) is noticed within about a minute instead of the kernel's 2 hours.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def database_errors() -> tuple[type[Exception], ...]:
    """The errors that mean the database is out of reach (answered 503, never 500): Django's
    wrappers, and psycopg's own for the ingest path's raw COPY (a lost connection, a shutdown,
    a deadlock, a statement timeout's QueryCanceled, a connect timeout, and a server silent
    past the wait limit: all psycopg.OperationalError)."""
    import psycopg  # not at import: the settings import this module
    from django.db.utils import InterfaceError, OperationalError

    return (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


_SESSION_SETTINGS = ("statement_timeout", "idle_in_transaction_session_timeout", "jit")
_SESSION_FLAG = re.compile(rf"\s*-c\s*(?:{'|'.join(_SESSION_SETTINGS)})=\S+")


@dataclass(frozen=True)
class DatabaseTimeouts:
    """The timeouts of one kind of process, in seconds; 0 means none."""

    connect_s: int
    statement_s: int
    idle_in_transaction_s: int

    @property
    def wait_limit_s(self) -> float | None:
        """How long the client waits for any answer from the server: a live server cancels
        the statement before that, so only a server that answers nothing reaches it."""
        return float(self.statement_s + WAIT_GRACE_S) if self.statement_s else None


def database_options(*, timeouts: DatabaseTimeouts, options: dict[str, Any]) -> dict[str, Any]:
    """A DATABASES entry's `OPTIONS` (libpq parameters): the given ones, e.g. from
    DATABASE_URL, with these timeouts, JIT off and TCP keepalives. Earlier timeouts (and a
    `jit` flag) are replaced."""
    flags = _SESSION_FLAG.sub("", str(options.get("options", ""))).strip()
    flags += (
        f" -c statement_timeout={timeouts.statement_s * 1000}"
        f" -c idle_in_transaction_session_timeout={timeouts.idle_in_transaction_s * 1000}"
        " -c jit=off"
    )
    return {
        **options,
        **KEEPALIVES,
        "connect_timeout": timeouts.connect_s,
        "options": flags.strip(),
    }


def database_settings(*, timeouts: DatabaseTimeouts, entry: dict[str, Any]) -> dict[str, Any]:
    """A DATABASES entry with these timeouts: the backend, its `OPTIONS` and `WAIT_LIMIT_S`
    (read by `tollgate.db.base`, never passed to libpq)."""
    return {
        **entry,
        "ENGINE": ENGINE,
        "OPTIONS": database_options(timeouts=timeouts, options=entry.get("OPTIONS", {})),
        "WAIT_LIMIT_S": timeouts.wait_limit_s,
    }


def database_timeouts_use(*, timeouts: DatabaseTimeouts) -> None:
    """Open this process's database connections with these timeouts from now on.

    Open connections are closed, to reopen with them. Call it at a process's start, outside
    any transaction.
    """
    from django.db import connections  # not at import: the settings import this module

    for alias in connections:
        # The same dict as every thread's connection.settings_dict: update it in place.
        entry = connections.settings[alias]
        entry.update(database_settings(timeouts=timeouts, entry=entry))
    connections.close_all()

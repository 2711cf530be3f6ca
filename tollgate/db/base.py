"""Django's PostgreSQL backend, with a limit on how long a connection waits for the server.

`statement_timeout` is enforced by the server, so a server that is stopped (SIGSTOP, a VM
paused, a backend stuck on its disk) never sends the cancellation: the client would wait
forever on a connection it already holds, CONN_HEALTH_CHECKS' own `SELECT 1` included. Here
every wait of psycopg on the server (a query, a COPY, a commit) gives up after the entry's
`WAIT_LIMIT_S` and closes the connection, which becomes an OperationalError (a 503 on the web).
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.abc import RV, PQGen
from psycopg.pq import TransactionStatus


class WaitLimitedConnection(psycopg.Connection[Any]):
    """A psycopg connection that gives up on a server silent for `wait_limit_s` seconds."""

    wait_limit_s: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        limit = self.wait_limit_s if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=limit)
        except psycopg.OperationalError as error:
            if self.pgconn.transaction_status != TransactionStatus.ACTIVE:
                raise  # the server answered (an error, or it closed the connection)
            # The command is still in flight, so nothing more can be sent on this connection.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database answered nothing within {limit} s; connection closed"
            ) from error


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL backend whose connections are `WaitLimitedConnection`s."""

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        # Django makes the connection itself; only `wait` differs, so the class is swapped
        # (as governance.management.base does with argparse's parser).
        connection.__class__ = WaitLimitedConnection
        connection.wait_limit_s = self.settings_dict.get("WAIT_LIMIT_S")
        return connection

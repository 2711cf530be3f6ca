"""Real processes for the tests that need them.

A throwaway PostgreSQL from pgserver (its own data folder and Unix socket, deleted afterwards),
`manage.py` commands, and long-running services (gunicorn, a Celery worker and beat) started
with production settings that point at it. Nothing here touches the embedded default database
of `.data/`: every process gets DATABASE_URL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import httpx
import pgserver
from pgserver.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[PostgresServer]:
    """A PostgreSQL server of its own, deleted on exit (started again first if a test stopped it)."""
    pgdata = Path(tempfile.mkdtemp(prefix=prefix))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.ensure_postgres_running()
        server.cleanup()


def production_env(server: PostgresServer, **extra: str) -> dict[str, str]:
    """This process's environment with production settings on the throwaway server."""
    socket_dir = urllib.parse.quote(str(server.pgdata))
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@/postgres?host={socket_dir}",
        "SECRET_KEY": "throwaway-test-" + "k" * 40,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "60",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command; its standard output."""
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout


def api_key_create(
    env: dict[str, str], org: str, project: str, *, scope: str, service: str | None = None
) -> str:
    """A new API key: the command prints it alone on its last line."""
    args = ["create_api_key", org, project, "--scope", scope]
    if service is not None:
        args += ["--service", service]
    return manage(env, *args).strip().splitlines()[-1]


def gunicorn_command(port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "tollgate.wsgi:application",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
    ]


class Services:
    """The long-running processes of one test.

    Each runs in a process group of its own (so gunicorn's workers and Celery's pool children
    go with it) and writes its output to a log file; `stop()` ends every group it started,
    SIGTERM first, SIGKILL after a timeout, and checks that nothing of them is left.
    """

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(  # noqa: S603 (fixed command lines, no shell)
            command,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def assert_running(self) -> None:
        exited = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        assert not exited, f"services exited early (exit codes): {exited}"

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(
            f"----- {name} (exit code {p.returncode}) -----\n{self.log(name)}"
            for name, p in self.processes.items()
        )

    def stop(self) -> list[str]:
        """Stop everything; the names of the services that had to be killed."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        killed = []
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                killed.append(name)
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        for name, process in self.processes.items():
            if not _group_gone(process.pid):  # a child outlived its leader
                killed.append(f"{name} (children)")
                _signal_group(process.pid, signal.SIGKILL)
                assert _group_gone(process.pid), f"{name}: processes left behind"
        for log in self._logs:
            log.close()
        return killed


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(pgid, signum)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command) "
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _group_gone(pgid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while _group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Poll a URL until the server answers at all (any status)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with code {process.returncode}"
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s")

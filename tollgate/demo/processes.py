"""The processes `make demo` runs beside itself: gunicorn, a Celery worker and Celery beat.

Each is started with the demo's environment (embedded defaults, the project importable),
waited for until it serves, and stopped with SIGTERM (a graceful stop), then SIGKILL for any
still there after 30 s.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tollgate.embedded import DATA_DIR, PROJECT_ROOT

Processes = dict[str, "subprocess.Popen[bytes]"]  # by name, what to stop on the way out

STARTUP_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
LOG_DIR = DATA_DIR / "logs"  # the Celery processes' output, rewritten on each run
BEAT_SCHEDULE_FILE = DATA_DIR / "celerybeat-schedule"
WORKER, BEAT = "Celery worker", "Celery beat"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _child_env() -> dict[str, str]:
    """The environment of the web server and Celery: this one (embedded defaults), importable."""
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath}


def server_start(port: int) -> subprocess.Popen[bytes]:
    """gunicorn with two workers, in the terminal's process group (Ctrl-C reaches it too)."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "tollgate.wsgi:application", "--workers", "2"]
    command += ["--bind", f"127.0.0.1:{port}"]
    print(f"Starting the web server on port {port}...")
    return subprocess.Popen(  # noqa: S603 (a fixed command line, no shell)
        command, cwd=PROJECT_ROOT, env=_child_env()
    )


def server_wait(server: subprocess.Popen[bytes], base_url: str) -> bool:
    """Poll the login page until it answers; False if gunicorn exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            if httpx.get(f"{base_url}/admin/login/", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return False


def celery_start(processes: Processes) -> None:
    """Add a Celery worker (one pool process) and beat, each writing to its own log file."""
    celery = [str(Path(sys.executable).with_name("celery")), "-A", "tollgate"]
    commands = {
        WORKER: [
            *celery,
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--hostname=tollgate-demo@%h",
        ],
        BEAT: [*celery, "beat", "--loglevel=INFO", "--schedule", str(BEAT_SCHEDULE_FILE)],
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    print(f"Starting the Celery worker and beat (logs in {LOG_DIR})...")
    # In a session of their own, stopped by the demo alone (SIGTERM, a warm shutdown): Ctrl-C
    # in the terminal would also hit the worker's pool process behind the worker's back.
    for name, command in commands.items():
        with log_file(name).open("wb") as log:  # the child keeps its own descriptor
            processes[name] = subprocess.Popen(  # noqa: S603 (a fixed command line, no shell)
                command,
                cwd=PROJECT_ROOT,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def log_file(name: str) -> Path:
    return LOG_DIR / (name.lower().replace(" ", "-") + ".log")


def celery_wait(processes: Processes) -> bool:
    """Wait until the worker consumes tasks; False (and why) if worker or beat exits first."""
    worker, log = processes[WORKER], log_file(WORKER)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for name in (WORKER, BEAT):
            code = processes[name].poll()
            if code is not None:
                print(f"The {name} exited (code {code}); see {log_file(name)}.")
                return False
        if " ready." in log.read_text(errors="replace"):
            return True
        time.sleep(0.3)
    print(f"The Celery worker did not get ready (pid {worker.pid}); see {log}.")
    return False


def processes_stop(processes: Processes) -> None:
    """SIGTERM to all (a graceful stop), then SIGKILL to any still there after 30 s."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, process in processes.items():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            print(f"The {name} did not stop in {STOP_TIMEOUT_S} s; killing it.")
            process.kill()
            process.wait()
    if processes:
        print(f"Stopped: {', '.join(processes)}.")

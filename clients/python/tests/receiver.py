"""A stand-in for Tollgate's ingest endpoint, for the client's tests: a real HTTP server on
127.0.0.1 that answers scripted failures first (429 with Retry-After, 503, a lost answer...),
then the ingest answer shape, and counts each (event_id, timestamp) once as Tollgate does."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    """One scripted answer: `status` with `headers`; `store` keeps the batch before answering
    (an answer lost after the events were stored)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    store: bool = False


@dataclass
class Request:
    at: float  # time.monotonic() when it arrived
    status: int
    event_ids: list[str]
    headers: dict[str, str]


class Receiver:
    """Start with `Receiver(script=[...])`; `url` is its base URL; `stop()` when done."""

    def __init__(
        self,
        script: list[Scripted] | None = None,
        *,
        reject: Callable[[dict[str, Any]], str | None] | None = None,
        port: int = 0,
        key: str = "tg_test_key",
    ) -> None:
        self.script = list(script or [])
        self.reject = reject  # event -> field name to reject it on, or None
        self.key = key
        self.requests: list[Request] = []
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- What the tests read ---------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.stored.values())

    def stored_ids(self) -> list[str]:
        with self.lock:
            return [event_id for event_id, _ in self.stored]

    def wait_for(self, count: int, timeout_s: float = 30.0) -> bool:
        """Wait until `count` distinct events are stored; False when the timeout passed."""
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while len(self.stored) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    # --- The endpoint ----------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        batch = json.loads(body)["batch"]
        ids = [event.get("event_id") for event in batch]
        with self.lock:
            scripted = self.script.pop(0) if self.script else None
        if headers.get("authorization") != f"Bearer {self.key}":
            status, answer, extra = 401, {"detail": "unknown key"}, {}
        elif scripted is not None and not scripted.store:
            status, answer, extra = scripted.status, {"detail": "scripted"}, scripted.headers
        else:
            answer = self.store(batch)
            status = 207 if answer["rejected"] else 200
            extra = {}
            if scripted is not None:  # stored, but the answer is lost
                status, answer, extra = scripted.status, {"detail": "scripted"}, scripted.headers
        with self.lock:
            self.requests.append(Request(time.monotonic(), status, ids, headers))
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def store(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        accepted = duplicates = 0
        errors = []
        with self.lock:
            for index, event in enumerate(batch):
                bad_field = self.reject(event) if self.reject else None
                if bad_field is not None:
                    errors.append(
                        {
                            "index": index,
                            "event_id": event.get("event_id"),
                            "field": bad_field,
                            "message": "refused by the test",
                        }
                    )
                    continue
                key = (event["event_id"], event["timestamp"])
                if key in self.stored:
                    duplicates += 1
                else:
                    self.stored[key] = event
                    accepted += 1
            self.changed.notify_all()
        return {
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": len(errors),
            "errors": errors,
        }


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

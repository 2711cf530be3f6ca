"""The Tollgate client: check and queue events on the caller's thread, send them from one
background thread in gzip batches, with retries that keep every event's id.

Delivery is at-least-once and counting exactly-once: a batch is resent byte for byte after a
429, a 5xx or a connection error (the server counts an `event_id` with its timestamp once), with
exponential backoff, full jitter and at least the server's `Retry-After`. What the server refuses
is counted and logged, never retried: events rejected in a 207 answer (`rejected`), and whole
batches answered 400, 401, 403, 404 or 415 (also `rejected`: a bad key or URL is a configuration
error that no retry fixes). A 413 splits the batch in halves until each half fits. The queue is
bounded: when it is full the oldest event is dropped and counted (`dropped`), as are the events
still undelivered when `close()` gives up. Nothing here raises into the host application for
network or server trouble; it logs on the `tollgate_client` logger.
"""

from __future__ import annotations

import atexit
import gzip
import json
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID

import httpx

try:  # not a dependency: used when the host has it, for a sender that costs less CPU
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None  # type: ignore[assignment]

from tollgate_client.events import (
    Event,
    Money,
    Timestamp,
    enforcement_event,
    finalize,
    routing_event,
)

__all__ = ["Client"]

logger = logging.getLogger("tollgate_client")
logger.addHandler(logging.NullHandler())

VERSION = "0.1.0"
INGEST_PATH = "/api/v1/ingest"
MAX_BATCH = 1000  # the server's limit per request
MAX_RETRY_AFTER_S = 300.0  # a Retry-After beyond this is read as this
GZIP_LEVEL = 1  # JSON shrinks 5-10x at level 1; higher levels cost the sender more than they save


class _Waiter:
    """One flush() call: it waits for every event numbered below `target` to be resolved."""

    __slots__ = ("lost", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.lost = False


class Client:
    """Queue Tollgate events from any thread; a background thread delivers them.

    `base_url` and `api_key` default to the TOLLGATE_URL and TOLLGATE_API_KEY environment
    variables. The sender thread starts with the first event (and again in a forked child).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        flush_interval_s: float = 1.0,
        max_batch: int = MAX_BATCH,
        max_queue: int = 100_000,
        timeout_s: float = 10.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        base_url = base_url or os.environ.get("TOLLGATE_URL")
        api_key = api_key or os.environ.get("TOLLGATE_API_KEY")
        if not base_url:
            raise ValueError("base_url: give it, or set TOLLGATE_URL (e.g. http://127.0.0.1:8000)")
        if not api_key:
            raise ValueError("api_key: give it, or set TOLLGATE_API_KEY (an ingest key, tg_...)")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch: must be 1 to {MAX_BATCH}")
        if max_queue < 1:
            raise ValueError("max_queue: must be at least 1")
        if not flush_interval_s > 0 or not timeout_s > 0:
            raise ValueError("flush_interval_s and timeout_s: must be positive")
        self.url = base_url.rstrip("/") + INGEST_PATH
        self.timeout_s = timeout_s
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"tollgate-client/{VERSION}",
        }
        self._flush_interval_s = flush_interval_s
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._closed = False
        self._state_reset()
        _LIVE_CLIENTS.add(self)

    def _state_reset(self) -> None:
        """Fresh locks, queue, counters and no sender: at start, and in a forked child."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the sender waits for events here
        self._settled = threading.Condition(self._lock)  # flush() waits for answers here
        self._stop_now = threading.Event()
        self._queue: deque[Event] = deque()
        self._enqueued = 0  # events ever queued; an event's number is its position in this
        self._in_flight_first = 0  # number of the first event of the batch being sent
        self._in_flight_count = 0
        self._waiters: list[_Waiter] = []
        self._stats: dict[str, int] = dict.fromkeys(
            ("sent", "duplicates", "rejected", "dropped", "retries"), 0
        )
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._drop_warned = False
        self._failing_since: float | None = None

    # --- The caller's side ---------------------------------------------------------------

    def routing(
        self,
        *,
        request_id: str,
        model: str,
        mode: str,
        input_tokens: int,
        output_tokens: int,
        latency_ms: float,
        status: str,
        provider: str | None = None,
        user_tier: str | None = None,
        tool_calls: int | None = None,
        complexity_score: float | None = None,
        routing_latency_ms: float | None = None,
        error_type: str | None = None,
        fallback_from: str | None = None,
        cost_usd: Money = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        route_reason: str | None = None,
        router_version: str | None = None,
        environment: str | None = None,
        attributes: dict[str, Any] | None = None,
        event_id: str | UUID | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """Queue a routing event (one model attempt) and return its event_id.

        Raises `ValueError` naming the field when a value breaks the schema; never raises for
        network or server trouble and never waits for the network.
        """
        event = routing_event(
            request_id=request_id,
            model=model,
            mode=mode,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=latency_ms,
            status=status,
            now=time.time(),
            provider=provider,
            user_tier=user_tier,
            tool_calls=tool_calls,
            complexity_score=complexity_score,
            routing_latency_ms=routing_latency_ms,
            error_type=error_type,
            fallback_from=fallback_from,
            cost_usd=cost_usd,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            route_reason=route_reason,
            router_version=router_version,
            environment=environment,
            attributes=attributes,
            event_id=event_id,
            timestamp=timestamp,
        )
        self._enqueue(event)
        return event["event_id"]  # type: ignore[no-any-return]

    def enforcement(
        self,
        *,
        request_id: str,
        layer: str,
        policy: str,
        verdict: str,
        check_latency_ms: float,
        violation: str | None = None,
        severity: str | None = None,
        false_positive: bool | None = None,
        mode: str | None = None,
        cost_usd: Money = None,
        policy_version: str | None = None,
        environment: str | None = None,
        attributes: dict[str, Any] | None = None,
        event_id: str | UUID | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """Queue an enforcement event (one policy check) and return its event_id.

        Raises `ValueError` naming the field when a value breaks the schema; never raises for
        network or server trouble and never waits for the network.
        """
        event = enforcement_event(
            request_id=request_id,
            layer=layer,
            policy=policy,
            verdict=verdict,
            check_latency_ms=check_latency_ms,
            now=time.time(),
            violation=violation,
            severity=severity,
            false_positive=false_positive,
            mode=mode,
            cost_usd=cost_usd,
            policy_version=policy_version,
            environment=environment,
            attributes=attributes,
            event_id=event_id,
            timestamp=timestamp,
        )
        self._enqueue(event)
        return event["event_id"]  # type: ignore[no-any-return]

    def _enqueue(self, event: Event) -> None:
        warn = None
        with self._lock:
            if self._closed:
                self._stats["dropped"] += 1
                warn = "an event was queued after close(); it is dropped"
            else:
                queue = self._queue
                if len(queue) >= self._max_queue:
                    self._lose(self._enqueued - len(queue))  # the oldest: the queue's head
                    queue.popleft()
                    self._stats["dropped"] += 1
                    if not self._drop_warned:
                        self._drop_warned = True
                        warn = f"queue full ({self._max_queue} events): dropping the oldest"
                queue.append(event)
                self._enqueued += 1
                if self._thread is None:
                    self._sender_start()
                size = len(queue)
                if size == 1 or size == self._max_batch:
                    self._wake.notify()
        if warn is not None:
            logger.warning("tollgate_client: %s (see stats()['dropped'])", warn)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send what is queued now; True once all of it was stored (accepted or duplicate).

        False when `timeout_s` passed first, or when some of it was lost: dropped from a full
        queue or refused by the server.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            waiter = _Waiter(self._enqueued)
            if self._pending_first() >= waiter.target:
                return True
            self._waiters.append(waiter)
            self._wake.notify()
            try:
                while self._pending_first() < waiter.target:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._settled.wait(remaining)
                return not waiter.lost
            finally:
                self._waiters.remove(waiter)

    def close(self, timeout_s: float | None = None) -> bool:
        """Flush (up to `timeout_s`, default the client's timeout), then stop the sender.

        Events still undelivered are counted as dropped. Returns flush()'s answer. Also run at
        interpreter exit for every client not closed.
        """
        timeout = self.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        delivered = self.flush(timeout)
        self._stop_now.set()
        with self._lock:
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # An answer in progress may take up to the HTTP timeout.
            thread.join(max(0.0, timeout - (time.monotonic() - started)) + self.timeout_s)
        _LIVE_CLIENTS.discard(self)
        return delivered

    def stats(self) -> dict[str, int]:
        """Counters since start: queued (waiting or in flight), sent (stored), duplicates,
        rejected (refused by the server), dropped (lost to a full queue or to close), retries."""
        with self._lock:
            counters = dict(self._stats)
            counters["queued"] = len(self._queue) + self._in_flight_count
        return counters

    # --- Bookkeeping (under the lock) ----------------------------------------------------

    def _pending_first(self) -> int:
        """The number of the oldest event not yet resolved (all below it are)."""
        if self._in_flight_count:
            return self._in_flight_first
        return self._enqueued - len(self._queue)

    def _lose(self, first: int) -> None:
        """Tell the flush() calls waiting for events from number `first` on that not all of
        them were stored (losses come in runs, so the run's first number decides)."""
        for waiter in self._waiters:
            if first < waiter.target:
                waiter.lost = True

    # --- The sender thread ---------------------------------------------------------------

    def _sender_start(self) -> None:
        self._thread = threading.Thread(
            target=self._sender_run, name="tollgate-client-sender", daemon=True
        )
        self._thread.start()

    def _sender_run(self) -> None:
        while True:
            batch = self._batch_next()
            if batch is None:
                break
            first = self._in_flight_first
            try:
                self._deliver(batch, first)
            # The thread must outlive any bug: the batch is counted, not lost silently.
            except Exception:
                logger.exception("tollgate_client: sending a batch failed; its events are dropped")
                with self._lock:
                    self._stats["dropped"] += len(batch)
                    self._lose(first)
            with self._lock:
                self._in_flight_count = 0
                self._settled.notify_all()
        self._sender_finish()

    def _batch_next(self) -> list[Event] | None:
        """Wait until a batch is due (full, flush asked, interval passed) and take it."""
        with self._lock:
            due: float | None = None
            while True:
                if self._stop_now.is_set():
                    return None
                size = len(self._queue)
                if size and (size >= self._max_batch or self._waiters):
                    break
                now = time.monotonic()
                if size and due is None:
                    due = now + self._flush_interval_s
                if due is not None and now >= due:
                    break
                self._wake.wait(None if due is None else due - now)
            count = min(size, self._max_batch)
            self._in_flight_first = self._enqueued - size
            self._in_flight_count = count
            queue = self._queue
            return [queue.popleft() for _ in range(count)]

    def _sender_finish(self) -> None:
        """Stopped by close(): what was not delivered is dropped and said so."""
        with self._lock:
            left = len(self._queue)
            if left:
                self._lose(self._enqueued - left)
                self._queue.clear()
                self._stats["dropped"] += left
            self._settled.notify_all()
            http, self._http = self._http, None
        if left:
            logger.warning("tollgate_client: closed with %d events undelivered (dropped)", left)
        if http is not None:
            http.close()

    def _deliver(self, batch: list[Event], first: int) -> None:
        """Send one batch until the server answers for it, or close() stops the retries."""
        body = gzip.compress(_encode(batch), compresslevel=GZIP_LEVEL)
        attempt = 0
        while True:
            status, answer, retry_after, problem = self._post(body)
            if status in (200, 207):
                self._answered(batch, first, answer)
                return
            if status == 413 and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half], first)
                self._deliver(batch[half:], first + half)
                return
            if status is not None and status < 500 and status not in (408, 429):
                self._refused(batch, first, status, problem)
                return
            attempt += 1
            delay = self._backoff(attempt, retry_after)
            self._retrying(status, problem, delay)
            if self._stop_now.wait(delay):
                with self._lock:
                    self._stats["dropped"] += len(batch)
                    self._lose(first)
                logger.warning(
                    "tollgate_client: closed while retrying; %d events dropped", len(batch)
                )
                return

    def _post(self, body: bytes) -> tuple[int | None, Any, float | None, str]:
        """(status or None when no answer, parsed JSON or None, Retry-After s, description)."""
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout_s)
        try:
            response = self._http.post(self.url, content=body, headers=self._headers)
        except httpx.HTTPError as exc:
            return None, None, None, f"{type(exc).__name__}: {exc}"
        try:
            answer = response.json()
        except ValueError:
            answer = None
        retry_after = _retry_after_s(response.headers.get("Retry-After"))
        return response.status_code, answer, retry_after, response.text[:300]

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter over an exponential ceiling, never sooner than the server asked."""
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2 ** min(attempt - 1, 30))
        delay = random.uniform(0, ceiling)  # noqa: S311  (jitter, not a secret)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _retrying(self, status: int | None, problem: str, delay: float) -> None:
        with self._lock:
            self._stats["retries"] += 1
            first_failure = self._failing_since is None
            if first_failure:
                self._failing_since = time.monotonic()
        cause = f"HTTP {status}" if status is not None else problem
        log = logger.warning if first_failure else logger.debug
        log("tollgate_client: %s from %s; retrying the batch in %.2f s", cause, self.url, delay)

    def _answered(self, batch: list[Event], first: int, answer: Any) -> None:
        recovered = None
        if not isinstance(answer, dict):
            answer = {"accepted": len(batch)}  # a 2xx without the ingest answer: take it as stored
        accepted = _int(answer.get("accepted"))
        duplicates = _int(answer.get("duplicates"))
        rejected = _int(answer.get("rejected"))
        errors = answer.get("errors") if isinstance(answer.get("errors"), list) else []
        with self._lock:
            self._stats["sent"] += accepted
            self._stats["duplicates"] += duplicates
            self._stats["rejected"] += rejected
            for error in errors:
                index = error.get("index") if isinstance(error, dict) else None
                if isinstance(index, int):
                    self._lose(first + index)
            if self._failing_since is not None:
                recovered = time.monotonic() - self._failing_since
                self._failing_since = None
        if recovered is not None:
            logger.info("tollgate_client: delivering again after %.1f s of failures", recovered)
        if rejected:
            logger.warning(
                "tollgate_client: the server rejected %d of %d events: %s",
                rejected,
                len(batch),
                "; ".join(_error_text(error) for error in errors[:5]),
            )

    def _refused(self, batch: list[Event], first: int, status: int, problem: str) -> None:
        with self._lock:
            self._stats["rejected"] += len(batch)
            self._lose(first)
            self._failing_since = None
        logger.error(
            "tollgate_client: HTTP %d from %s, %d events refused (not retried): %s",
            status,
            self.url,
            len(batch),
            problem,
        )

    def _after_fork_in_child(self) -> None:
        """The child starts empty with its own sender; the parent's events stay the parent's."""
        self._state_reset()  # the inherited httpx client's sockets belong to the parent


def _encode(batch: list[Event]) -> bytes:
    for event in batch:
        finalize(event)
    if _orjson is not None:
        return _orjson.dumps({"batch": batch})
    return json.dumps({"batch": batch}, separators=(",", ":")).encode()


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    return f"#{error.get('index')} {error.get('field')}: {error.get('message')}"


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


_LIVE_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


def _close_all() -> None:
    for client in list(_LIVE_CLIENTS):
        try:
            client.close()
        except Exception:  # exit must go on whatever one client does
            logger.exception("tollgate_client: closing a client at exit failed")


def _after_fork_in_child() -> None:
    for client in list(_LIVE_CLIENTS):
        client._after_fork_in_child()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

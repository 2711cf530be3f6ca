"""Posting generated traffic through the real ingest API (`POST /api/v1/ingest`).

`history_post` sends a stretch of the past as fast as the server takes it (batches of 1,000
events, a few in flight at once); `live_post` keeps sending from a moment on, each event when
its timestamp comes, until told to stop. Both retry what the API asks to be retried (429 and
503 after `Retry-After`) and a server that cannot be reached for a moment; anything else stops
them with a `PostError`.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from itertools import count
from typing import Any

import httpx
import orjson

from tollgate.demo.progress import ProgressBar
from tollgate.demo.simulation import MINUTE, TrafficPlan, minute_floor, minute_requests, minutes
from tollgate.demo.traffic import Event, batches

BATCH_EVENTS = 1000  # the API's limit per request
INGEST_PATH = "/api/v1/ingest"
TRANSPORT_RETRIES = 5  # a server restarting: 1 + 2 + 4 + 8 s of patience
THROTTLE_RETRIES = 30  # 429 / 503 answers in a row before giving up


class PostError(Exception):
    """The ingest API refused a batch, or could not be reached."""


@dataclass
class PostTotals:
    """What was posted, and what the API answered about it."""

    requests: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    def add(self, other: PostTotals) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def summary(self) -> str:
        return (
            f"{self.events:,} events of {self.requests:,} requests: {self.accepted:,} accepted, "
            f"{self.duplicates:,} duplicates, {self.rejected:,} rejected"
        )


def request_batches(
    requests: Iterable[list[Event]], size: int = BATCH_EVENTS
) -> Iterator[tuple[list[Event], int]]:
    """Whole requests packed into batches of at most `size` events, each with its number of
    requests (so progress can be counted in requests)."""
    batch: list[Event] = []
    packed = 0
    for request in requests:
        if batch and len(batch) + len(request) > size:
            yield batch, packed
            batch, packed = [], 0
        batch.extend(request)
        packed += 1
    if batch:
        yield batch, packed


def batch_post(
    client: httpx.Client,
    api_key: str,
    batch: list[Event],
    *,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Post one batch and return the API's answer (`accepted`, `duplicates`, `rejected`)."""
    response = post_retrying(
        client,
        INGEST_PATH,
        orjson.dumps({"batch": batch}),
        {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        stop=stop,
    )
    answer: dict[str, Any] = response.json()
    return answer


def api_sender(
    client: httpx.Client, api_keys: Mapping[str, str], *, stop: threading.Event | None = None
) -> Callable[[str, list[Event]], PostTotals]:
    """`live_post`'s `send` through the ingest API, with each scenario's key."""

    def send(scenario: str, batch: list[Event]) -> PostTotals:
        answer = batch_post(client, api_keys[scenario], batch, stop=stop)
        return answer_totals(answer, requests=0, events=len(batch))

    return send


def post_retrying(
    client: httpx.Client,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    stop: threading.Event | None = None,
) -> httpx.Response:
    """Post `body` until it is answered 200 or 207, retrying what the API asks to be retried
    (429 and 503 after `Retry-After`) and a server out of reach for a moment."""
    transport_failures = throttled = 0
    while True:
        try:
            response = client.post(path, content=body, headers=headers)
        except httpx.TransportError as exc:
            transport_failures += 1
            if transport_failures >= TRANSPORT_RETRIES or (stop and stop.is_set()):
                raise PostError(f"cannot reach {client.base_url}: {exc}") from exc
            _pause(2.0 ** (transport_failures - 1), stop)
            continue
        if response.status_code in (429, 503):
            throttled += 1
            if throttled >= THROTTLE_RETRIES or (stop and stop.is_set()):
                raise PostError(f"{path} kept answering {response.status_code}")
            _pause(float(response.headers.get("Retry-After", "1")), stop)
            continue
        if response.status_code not in (200, 207):
            text = " ".join(response.text.split())[:200]
            raise PostError(f"{path} answered {response.status_code}: {text}")
        return response


def history_post(
    *,
    client: httpx.Client,
    api_keys: Mapping[str, str],
    plan: TrafficPlan,
    start: datetime,
    end: datetime,
    concurrency: int = 3,
    progress: ProgressBar | None = None,
    stop: threading.Event | None = None,
) -> PostTotals:
    """Post the plan's requests of `[start, end)` (minute-aligned `start`), scenario after
    scenario; `api_keys` maps each scenario to the ingest key of its project."""
    stop = stop or threading.Event()
    totals, lock = PostTotals(), threading.Lock()

    def send(api_key: str, batch: list[Event], requests: int) -> None:
        answer = batch_post(client, api_key, batch, stop=stop)
        with lock:
            totals.add(answer_totals(answer, requests=requests, events=len(batch)))
        if progress is not None:
            progress.advance(requests, len(batch))

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ingest-post")
    in_flight: set[Future[None]] = set()
    try:
        for scenario in plan.scenarios:
            requests = _stretch(plan, scenario, start, end)
            for batch, packed in request_batches(requests):
                in_flight.add(pool.submit(send, api_keys[scenario], batch, packed))
                if len(in_flight) >= 2 * concurrency:  # bounded: generation waits for posting
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()  # the first failure stops the run
        for future in in_flight:
            future.result()
    except BaseException:
        stop.set()  # retries give up, queued batches are dropped
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if progress is not None:
        progress.finish()
    return totals


def live_post(
    *,
    send: Callable[[str, list[Event]], PostTotals],
    scenarios: Iterable[str],
    catch_up_plan: TrafficPlan,
    live_plan: TrafficPlan,
    since: datetime,
    stop: threading.Event,
    on_minute: Callable[[datetime], None] | None = None,
    tick_s: float = 1.0,
) -> PostTotals:
    """Post traffic from `since` until `stop` is set, each event once its timestamp has come.

    Minutes already over when reached are generated at `catch_up_plan`'s pace (a gap in the
    history, topped up at once), the current and later ones at `live_plan`'s. `on_minute` is
    told the first minute not generated yet, each time it moves: where to resume from.
    `send` delivers a batch of one scenario's events, by whichever path that scenario takes
    (`tollgate.demo.paths`).
    """
    scenarios = tuple(scenarios)
    pending: list[tuple[datetime, int, str, bool, Event]] = []  # a heap, earliest first
    order = count()
    minute = minute_floor(since)
    totals = PostTotals()
    while not stop.is_set():
        now = datetime.now(UTC)
        moved = minute <= now
        while minute <= now:
            pace = catch_up_plan if minute + MINUTE <= now else live_plan
            for scenario in scenarios:
                for request in minute_requests(pace, scenario, minute):
                    for index, event in enumerate(request):
                        at = datetime.fromisoformat(event["timestamp"])
                        heapq.heappush(pending, (at, next(order), scenario, index == 0, event))
            minute += MINUTE
        due: dict[str, list[Event]] = defaultdict(list)
        while pending and pending[0][0] <= now:
            _, _, scenario, first, event = heapq.heappop(pending)
            due[scenario].append(event)
            totals.requests += first  # a request counts once its first event is sent
        for scenario, events in due.items():
            for batch in batches(events, BATCH_EVENTS):
                totals.add(send(scenario, batch))
        if moved and on_minute is not None:
            on_minute(minute)
        stop.wait(tick_s)
    return totals


def _stretch(
    plan: TrafficPlan, scenario: str, start: datetime, end: datetime
) -> Iterator[list[Event]]:
    for minute in minutes(start, end):
        yield from minute_requests(plan, scenario, minute, end=end)


def answer_totals(answer: Mapping[str, Any], *, requests: int, events: int) -> PostTotals:
    return PostTotals(
        requests=requests,
        events=events,
        accepted=int(answer.get("accepted", 0)),
        duplicates=int(answer.get("duplicates", 0)),
        rejected=int(answer.get("rejected", 0)),
    )


def _pause(seconds: float, stop: threading.Event | None) -> None:
    """Sleep, cut short when `stop` is set."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)

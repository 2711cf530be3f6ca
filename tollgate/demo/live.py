"""The demo's traffic: a week of history on the first run, then a live stream.

Both come from one plan (`tollgate.demo.simulation`) seeded for the demo, with the demo's incidents
placed around the end of the first run's week (`DemoState.traffic_end`), so a later run, a
top-up of the time the demo was stopped, and the live stream carry on the same story. The
history goes through the ingest API; the live stream takes each scenario's own path
(`tollgate.demo.paths`: the ingest API, the tollgate-client package or OTLP spans).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx

from tollgate.demo.incidents import demo_incidents
from tollgate.demo.paths import LivePaths
from tollgate.demo.poster import PostError, PostTotals, history_post, live_post
from tollgate.demo.progress import ProgressBar
from tollgate.demo.simulation import TrafficPlan, minute_floor, requests_count
from tollgate.demo.tenant import DemoState
from tollgate.demo.traffic import SCENARIOS

SEED = "tollgate-demo"
HISTORY = timedelta(days=7)
MAX_TOP_UP = timedelta(hours=24)  # a longer stop leaves a gap rather than a slow start
POSTING_CLIENTS = 3  # batches in flight: gunicorn's two workers stay busy
STOP_TIMEOUT_S = 15.0


def demo_plan(anchor: datetime) -> TrafficPlan:
    """Every scenario at its own pace, with the demo's incidents around `anchor`."""
    return TrafficPlan(scenarios=tuple(SCENARIOS), seed=SEED, incidents=demo_incidents(anchor))


def week_post(state: DemoState, base_url: str) -> tuple[PostTotals, datetime]:
    """Post the week before the anchor with a progress bar, then the minutes since the
    anchor; return what was posted and the first minute not posted yet."""
    anchor = state.anchor
    if anchor is None:
        raise ValueError("the demo state has no traffic_end yet")
    plan, start = demo_plan(anchor), anchor - HISTORY
    progress = ProgressBar(requests_count(plan, start, anchor), label="Posting a week of traffic")
    api_keys = state.scenario_keys()
    limits = httpx.Limits(max_connections=POSTING_CLIENTS)
    with httpx.Client(base_url=base_url, timeout=120, limits=limits) as client:
        totals = history_post(
            client=client,
            api_keys=api_keys,
            plan=plan,
            start=start,
            end=anchor,
            concurrency=POSTING_CLIENTS,
            progress=progress,
        )
        # The minutes the week took to post (more if an interrupted first run resumes later),
        # so the charts reach the present.
        now = minute_floor(datetime.now(UTC))
        top_up_start = max(anchor, now - MAX_TOP_UP)
        if now > top_up_start:
            totals.add(
                history_post(
                    client=client,
                    api_keys=api_keys,
                    plan=plan,
                    start=top_up_start,
                    end=now,
                    concurrency=POSTING_CLIENTS,
                )
            )
    return totals, max(now, anchor)


class LiveTraffic:
    """Posts the demo's traffic in a thread from where it last stopped, until `stop()`:
    a gap of up to a day at once, then each minute as it comes, all at the history's pace."""

    def __init__(self, state: DemoState, base_url: str) -> None:
        if state.anchor is None:
            raise ValueError("the demo state has no traffic_end yet")
        self.state, self.base_url = state, base_url
        self.plan = demo_plan(state.anchor)
        # The history's own plan: live minutes at another rate would make the last hour look
        # like an incident next to the week (and a minute is the same events whichever path
        # makes it).
        self.live_plan = self.plan
        now = datetime.now(UTC)
        resume = datetime.fromisoformat(state.resume_from) if state.resume_from else now
        self.since = max(resume, now - MAX_TOP_UP)
        self.gap = now - self.since
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT_S)

    def _run(self) -> None:
        try:
            api_keys = self.state.scenario_keys()
            with (
                httpx.Client(base_url=self.base_url, timeout=30) as http,
                LivePaths(http, self.base_url, api_keys, self._stop) as paths,
            ):
                live_post(
                    send=paths.send,
                    scenarios=api_keys,
                    catch_up_plan=self.plan,
                    live_plan=self.live_plan,
                    since=self.since,
                    stop=self._stop,
                    on_minute=self._resume_point,
                )
        except PostError as exc:
            if not self._stop.is_set():
                print(f"\nLive traffic stopped: {exc}", flush=True)

    def _resume_point(self, minute: datetime) -> None:
        self.state.resume_from = minute.isoformat()
        self.state.save()

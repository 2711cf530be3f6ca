"""`manage.py simulate_traffic`: the demo's traffic generator, posting through the real API."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from governance.management.base import TollgateCommand, organization_named
from governance.services import api_key_revoke
from ingestion.services import simulation_keys_issue
from tollgate.demo.incidents import demo_incidents
from tollgate.demo.poster import PostError, api_sender, history_post, live_post
from tollgate.demo.progress import ProgressBar
from tollgate.demo.simulation import TrafficPlan, minute_floor, requests_count
from tollgate.demo.traffic import SCENARIOS

MAX_DAYS = 89  # older events fall out of the default 90-day retention and are refused


def scenario_name(value: str) -> str:
    """A scenario key (`customer_service`), its project name (`customer-service`) or `all`."""
    key = value.strip().lower().replace("-", "_")
    if key != "all" and key not in SCENARIOS:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {value!r} (choose from {', '.join(SCENARIOS)} or all)"
        )
    return key


class Command(TollgateCommand):
    help = (
        "Post generated traffic of the demo scenarios through the ingest API: DAYS of history "
        "up to now, then (with --live) a stream at the history's pace (or RATE requests a second) "
        "until Ctrl-C."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--days", type=float, default=1.0, help="history to post (0..89)")
        parser.add_argument(
            "--rate",
            type=float,
            default=None,
            help="live requests a second, all scenarios together (default: the history's pace)",
        )
        parser.add_argument(
            "--scenario",
            action="append",
            type=scenario_name,
            help="a scenario (repeatable) or all (the default)",
        )
        parser.add_argument("--live", action="store_true", help="keep posting until Ctrl-C")
        parser.add_argument("--url", help="the Tollgate server (default TOLLGATE_BASE_URL)")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--key", help="an ingest key (its project gets the one --scenario)")
        keys.add_argument("--org", help="post to this organization's scenario projects")
        parser.add_argument("--service", default="router", help="the service keys are made for")
        parser.add_argument("--seed", default="tollgate", help="same seed, same events")
        parser.add_argument(
            "--incidents",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="the demo's outage, router drift and over-interception (default on)",
        )
        parser.add_argument("--concurrency", type=int, default=3, help="batches in flight")

    def handle(self, *args: Any, **options: Any) -> None:
        scenarios = self._scenarios(options)
        days, rate = options["days"], options["rate"]
        if not 0 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 0 and {MAX_DAYS}")
        if days == 0 and not options["live"]:
            raise CommandError("nothing to post: give --days above 0, or --live")
        if rate is not None and rate <= 0:
            raise CommandError("--rate must be above 0")
        if not 1 <= options["concurrency"] <= 16:
            raise CommandError("--concurrency must be between 1 and 16")
        if options["key"] and len(scenarios) != 1:
            raise CommandError("--key posts to one project: name exactly one --scenario")
        url = options["url"] or settings.TOLLGATE_BASE_URL
        end = minute_floor(timezone.now())
        plan = TrafficPlan(
            scenarios=scenarios,
            seed=options["seed"],
            incidents=demo_incidents(end) if options["incidents"] else (),
        )
        with self._api_keys(options, scenarios) as api_keys:
            try:
                with httpx.Client(base_url=url, timeout=60) as client:
                    if days > 0:
                        self._history(client, api_keys, plan, end, days, options)
                    if options["live"]:
                        self._live(client, api_keys, plan, end, rate)
            except PostError as exc:
                raise CommandError(str(exc)) from None
            except httpx.InvalidURL as exc:
                raise CommandError(f"bad --url {url!r}: {exc}") from None

    def _scenarios(self, options: dict[str, Any]) -> tuple[str, ...]:
        chosen = options["scenario"] or ["all"]
        if "all" in chosen:
            return tuple(SCENARIOS)
        return tuple(dict.fromkeys(chosen))  # in the order given, once each

    @contextmanager
    def _api_keys(
        self, options: dict[str, Any], scenarios: tuple[str, ...]
    ) -> Iterator[dict[str, str]]:
        """By scenario, the raw ingest key to post with; keys made for --org are revoked after."""
        if options["key"]:
            yield {scenarios[0]: options["key"]}
            return
        organization = organization_named(options["org"])
        projects = {key: SCENARIOS[key].project for key in scenarios}
        issued = simulation_keys_issue(
            organization=organization,
            projects=projects.values(),
            service_name=options["service"],
        )
        try:
            yield {key: issued[project][1] for key, project in projects.items()}
        finally:
            for api_key, _ in issued.values():
                api_key_revoke(api_key=api_key)

    def _history(
        self,
        client: httpx.Client,
        api_keys: dict[str, str],
        plan: TrafficPlan,
        end: datetime,
        days: float,
        options: dict[str, Any],
    ) -> None:
        start = minute_floor(end - timedelta(days=days))
        progress = ProgressBar(
            requests_count(plan, start, end),
            label=f"Posting {days:g} days",
            stream=options.get("stderr") or sys.stderr,
        )
        started = time.monotonic()
        totals = history_post(
            client=client,
            api_keys=api_keys,
            plan=plan,
            start=start,
            end=end,
            concurrency=options["concurrency"],
            progress=progress,
        )
        self.stdout.write(f"posted {totals.summary()} in {time.monotonic() - started:.1f} s")

    def _live(
        self,
        client: httpx.Client,
        api_keys: dict[str, str],
        plan: TrafficPlan,
        since: datetime,
        rate: float | None,
    ) -> None:
        stop = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        live_plan = plan if rate is None else plan.at_rate(rate)
        per_second = live_plan.requests_per_hour() / 3600
        self.stdout.write(
            f"posting live traffic at about {per_second:.2g} requests/s; Ctrl-C stops"
        )
        try:
            totals = live_post(
                send=api_sender(client, api_keys, stop=stop),
                scenarios=api_keys,
                catch_up_plan=plan,
                live_plan=live_plan,
                since=since,
                stop=stop,
            )
        finally:
            signal.signal(signal.SIGINT, previous)
        self.stdout.write(f"live: posted {totals.summary()}")

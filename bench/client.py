"""Client benchmark: what `routing()` costs the caller, and the events per second one client
process sustains to a local server.

1. Caller cost: `routing()` (and `enforcement()`) timed call by call with `perf_counter_ns`,
   N calls (default 200,000) while the client's sender really sends them to a minimal local
   receiver; median and P99 against the 20 microsecond target.
2. Throughput, minimal receiver: one process calls `routing()` as fast as it can for N events
   and then `flush()`; the wall time covers queueing, serializing, gzip and the HTTP round
   trips. The receiver runs in its own process (stdlib HTTP server: gunzip, parse, count each
   event id once), so it is the client that is measured.
3. Throughput, real Tollgate: the same against gunicorn (2 workers, as bench/ingest.py starts
   it) with a real ingest key, every event validated, priced and COPYed; here the server may be
   the ceiling (bench/ingest.py measures it), which the output says.

Run: `PYTHONPATH=. .venv/bin/python bench/client.py [--calls N] [--events N] [--tollgate-events N]`
(`--tollgate-events 0` skips part 3, which needs the database; each run makes its own tenant).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tollgate_client import Client

TARGET_CALL_US = 20.0
TARGET_EVENTS_PER_S = 50_000
FLUSH_TIMEOUT_S = 600.0
HERE = Path(__file__).resolve().parent


# --- The minimal receiver (its own process) ------------------------------------------------


def receiver_serve(port: int) -> None:
    """Answer the ingest shape; count each event id once; print the count on stdin's EOF."""
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            batch = json.loads(body)["batch"]
            before = len(seen)
            seen.update(event["event_id"] for event in batch)
            accepted = len(seen) - before
            answer = json.dumps(
                {
                    "accepted": accepted,
                    "duplicates": len(batch) - accepted,
                    "rejected": 0,
                    "errors": [],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def receiver_start() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout is None:
        raise RuntimeError("the receiver's output is not a pipe")
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


# --- Measurements ----------------------------------------------------------------------------


def routing_call(client: Client, index: int) -> str:
    return client.routing(
        request_id=f"req-{index}",
        model="gpt-5.4",
        mode="hybrid",
        input_tokens=1200,
        output_tokens=300,
        latency_ms=142.0,
        status="ok",
        provider="openai",
        cost_usd=0.0125,
    )


def caller_cost(url: str, key: str, calls: int) -> tuple[list[int], list[int], dict[str, int]]:
    """Nanoseconds per routing() and per enforcement() call, with the sender at work."""
    client = Client(url, key, max_queue=calls * 2)
    routing_ns, check_ns = [], []
    clock = time.perf_counter_ns
    for index in range(calls):
        started = clock()
        routing_call(client, index)
        routing_ns.append(clock() - started)
    for index in range(calls // 4):
        started = clock()
        client.enforcement(
            request_id=f"req-{index}",
            layer="execution",
            policy="pii",
            verdict="allow",
            check_latency_ms=4.1,
        )
        check_ns.append(clock() - started)
    client.close(timeout_s=FLUSH_TIMEOUT_S)
    return routing_ns, check_ns, client.stats()


def throughput(url: str, key: str, events: int) -> tuple[float, dict[str, int], bool]:
    """Seconds from the first routing() until flush() saw every event stored."""
    client = Client(url, key, max_queue=events + 1)
    started = time.perf_counter()
    for index in range(events):
        routing_call(client, index)
    delivered = client.flush(timeout_s=FLUSH_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    client.close(timeout_s=10)
    return elapsed, client.stats(), delivered


def percentile(values: list[int], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] / 1000.0


def tollgate_throughput(events: int) -> None:
    """Part 3: the real ingest path through gunicorn with a fresh tenant's key."""
    sys.path.insert(0, str(HERE))
    from benchkit import django_setup, tenant_create
    from ingest import free_port, gunicorn_start, gunicorn_stop, gunicorn_wait

    django_setup()
    tenant = tenant_create("client", scope="ingest")
    port = free_port()
    server = gunicorn_start(port)
    try:
        gunicorn_wait(server, port)
        seconds, stats, delivered = throughput(f"http://127.0.0.1:{port}", tenant.raw_key, events)
    finally:
        gunicorn_stop(server)
    rate = events / seconds
    print(
        f"3. one client process -> Tollgate (gunicorn, 2 workers, full ingest path): "
        f"{events:,} events in {seconds:.2f} s = {rate:,.0f} events/s "
        f"({rate / TARGET_EVENTS_PER_S:.2f} of the {TARGET_EVENTS_PER_S:,}/s target); "
        f"all stored: {delivered}, stats {stats}"
    )
    print(
        "   here the server is the likely ceiling: compare bench/ingest.py's HTTP ingest "
        "events/s (two posting clients) on the same machine"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200_000, help="timed routing() calls")
    parser.add_argument("--events", type=int, default=500_000, help="events to the receiver")
    parser.add_argument(
        "--tollgate-events", type=int, default=200_000, help="events to Tollgate (0: skip)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.serve:
        receiver_serve(0)
        return 0
    if arguments.calls < 100 or arguments.events < 1 or arguments.tollgate_events < 0:
        parser.error("--calls must be at least 100, --events at least 1")

    receiver, url = receiver_start()
    try:
        routing_ns, check_ns, stats = caller_cost(url, "tg_bench", arguments.calls)
        median = statistics.median(routing_ns) / 1000.0
        print(
            f"1. routing() in the caller, {len(routing_ns):,} calls while sending: "
            f"median {median:.2f} us, P99 {percentile(routing_ns, 0.99):.2f} us "
            f"(target: median under {TARGET_CALL_US:.0f} us, ratio {median / TARGET_CALL_US:.2f}); "
            f"enforcement() median {statistics.median(check_ns) / 1000.0:.2f} us, "
            f"P99 {percentile(check_ns, 0.99):.2f} us; sender stats {stats}"
        )
        seconds, stats, delivered = throughput(url, "tg_bench", arguments.events)
        rate = arguments.events / seconds
        print(
            f"2. one client process -> minimal receiver (own process): {arguments.events:,} "
            f"events in {seconds:.2f} s = {rate:,.0f} events/s "
            f"({rate / TARGET_EVENTS_PER_S:.2f} of the {TARGET_EVENTS_PER_S:,}/s target); "
            f"all stored: {delivered}, stats {stats}"
        )
    finally:
        receiver.terminate()
        receiver.wait()
    if arguments.tollgate_events:
        tollgate_throughput(arguments.tollgate_events)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The client against a live server that fails for a while, refuses, or is down."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from receiver import Receiver, Scripted, closed_port
from sending import send_routing

from tollgate_client import Client

MakeReceiver = Callable[..., Receiver]
MakeClient = Callable[..., Client]
SRC = Path(__file__).resolve().parent.parent / "src"


def test_429_and_503_for_a_while_then_every_event_arrives_exactly_once(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver(
        [
            Scripted(429, {"Retry-After": "1"}),
            Scripted(503, {"Retry-After": "0"}),
            Scripted(503),
            Scripted(502),
        ]
    )
    client = make_client(receiver.url, max_batch=1000)
    sent_ids = send_routing(client, 2500)

    assert client.flush(timeout_s=30)
    assert sorted(receiver.stored_ids()) == sorted(sent_ids)
    stats = client.stats()
    assert stats["sent"] == 2500
    assert (stats["retries"], stats["dropped"], stats["rejected"], stats["queued"]) == (4, 0, 0, 0)
    # The four failed requests and the one that got through carry the same batch.
    first, *retries = receiver.requests[:5]
    assert [request.status for request in receiver.requests[:5]] == [429, 503, 503, 502, 200]
    assert all(request.event_ids == first.event_ids for request in retries)
    # Retry-After: 1 held the second attempt back at least that long.
    assert receiver.requests[1].at - receiver.requests[0].at >= 0.95
    assert all(request.headers.get("content-encoding") == "gzip" for request in receiver.requests)


def test_a_lost_answer_is_retried_and_counted_once(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    # The server stores the batch, then the answer is lost (503): the resent batch is all
    # duplicates, and every event is counted once.
    receiver = make_receiver([Scripted(503, store=True)])
    client = make_client(receiver.url)
    sent_ids = send_routing(client, 300)

    assert client.flush(timeout_s=30)
    assert sorted(receiver.stored_ids()) == sorted(sent_ids)
    assert [request.status for request in receiver.requests] == [503, 200]
    assert receiver.requests[0].event_ids == receiver.requests[1].event_ids
    stats = client.stats()
    assert (stats["sent"], stats["duplicates"], stats["retries"]) == (0, 300, 1)


def test_with_the_server_down_the_host_goes_on_the_queue_stays_bounded_and_drops_are_counted(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    port = closed_port()
    client = make_client(f"http://127.0.0.1:{port}", max_queue=200, max_batch=100)
    sent_ids = send_routing(client, 1000)  # returns at once: nothing waits for the network

    assert client.flush(timeout_s=0.5) is False
    stats = client.stats()
    assert stats["queued"] <= 200 + 100  # the queue, and one batch in flight
    assert stats["dropped"] == 1000 - stats["queued"]
    assert stats["sent"] == 0 and stats["retries"] >= 1

    # The server comes back on the same port: what was kept arrives, once each.
    receiver = make_receiver(port=port)
    assert client.flush(timeout_s=30)
    received = receiver.stored_ids()
    assert len(received) == len(set(received)) == stats["queued"]
    assert set(received) <= set(sent_ids)
    assert sent_ids[-1] in received  # the newest are kept; the oldest were dropped
    assert client.stats()["sent"] == stats["queued"]


def test_close_with_the_server_down_returns_and_counts_what_it_could_not_send(
    make_client: MakeClient,
) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}")
    send_routing(client, 50)

    assert client.close(timeout_s=0.3) is False
    stats = client.stats()
    assert (stats["dropped"], stats["queued"], stats["sent"]) == (50, 0, 0)
    # After close an event is dropped and counted, never raised.
    send_routing(client, 1)
    assert client.stats()["dropped"] == 51


def test_events_the_server_rejects_are_counted_and_not_retried(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver(
        reject=lambda event: "request_id" if event["request_id"].startswith("bad") else None
    )
    client = make_client(receiver.url)
    good = send_routing(client, 20, prefix="good")
    send_routing(client, 5, prefix="bad")

    assert client.flush(timeout_s=30) is False  # five were not stored
    assert sorted(receiver.stored_ids()) == sorted(good)
    assert len(receiver.requests) == 1
    stats = client.stats()
    assert (stats["sent"], stats["rejected"], stats["retries"]) == (20, 5, 0)


@pytest.mark.parametrize("status", [400, 401, 403, 415])
def test_a_refused_batch_is_counted_as_rejected_not_retried_forever(
    make_receiver: MakeReceiver, make_client: MakeClient, status: int
) -> None:
    receiver = make_receiver([Scripted(status)])
    client = make_client(receiver.url)
    send_routing(client, 10)

    assert client.flush(timeout_s=30) is False
    assert len(receiver.requests) == 1
    stats = client.stats()
    assert (stats["rejected"], stats["sent"], stats["retries"], stats["queued"]) == (10, 0, 0, 0)
    # The client goes on: the next events are delivered.
    later = send_routing(client, 3, prefix="later")
    assert client.flush(timeout_s=30)
    assert sorted(receiver.stored_ids()) == sorted(later)


def test_a_wrong_key_is_refused_once_per_batch(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver()
    client = make_client(receiver.url, api_key="tg_wrong")
    send_routing(client, 10)

    assert client.flush(timeout_s=30) is False
    assert [request.status for request in receiver.requests] == [401]
    assert client.stats()["rejected"] == 10


def test_413_splits_the_batch_until_it_fits(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver([Scripted(413), Scripted(413)])
    client = make_client(receiver.url)
    sent_ids = send_routing(client, 40)

    assert client.flush(timeout_s=30)
    assert sorted(receiver.stored_ids()) == sorted(sent_ids)
    sizes = [len(request.event_ids) for request in receiver.requests]
    assert sizes == [40, 20, 10, 10, 20]


def test_many_threads_at_once_lose_nothing(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver()
    client = make_client(receiver.url)
    ids: list[list[str]] = [[] for _ in range(8)]

    def produce(slot: int) -> None:
        ids[slot] = send_routing(client, 2000, prefix=f"t{slot}")

    threads = [threading.Thread(target=produce, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert client.flush(timeout_s=60)
    every = [event_id for slot in ids for event_id in slot]
    assert sorted(receiver.stored_ids()) == sorted(every)
    assert client.stats()["sent"] == 16_000


def test_the_caller_gets_the_event_id_and_the_server_the_fields(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver()
    client = make_client(receiver.url)
    routing_id = client.routing(
        request_id="r-1",
        model="gpt-5.4",
        mode="hybrid",
        input_tokens=1200,
        output_tokens=300,
        latency_ms=142.0,
        status="ok",
        cache_read_tokens=200,
        reasoning_tokens=40,
        cost_usd="0.0125",
        attributes={"tenant": "t1"},
    )
    check_id = client.enforcement(
        request_id="r-1",
        layer="execution",
        policy="pii",
        verdict="block",
        check_latency_ms=4.1,
        violation="pii",
        severity="high",
    )

    assert client.flush(timeout_s=30)
    events = {event["event_id"]: event for event in receiver.events()}
    routing, check = events[routing_id], events[check_id]
    assert routing["type"] == "routing" and check["type"] == "enforcement"
    assert routing["cost_usd"] == "0.0125" and routing["cache_read_tokens"] == 200
    assert routing["attributes"] == {"tenant": "t1"}
    assert (check["verdict"], check["violation"], check["severity"]) == ("block", "pii", "high")
    assert routing["timestamp"].endswith("+00:00") and "T" in routing["timestamp"]


def test_a_forked_child_sends_its_own_events_with_its_own_sender(
    make_receiver: MakeReceiver, make_client: MakeClient
) -> None:
    receiver = make_receiver()
    client = make_client(receiver.url, flush_interval_s=60)  # the parent's events wait
    parent_ids = send_routing(client, 30, prefix="parent")
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, then leave without pytest's teardown
        try:
            child_ids = send_routing(client, 7, prefix="child")
            delivered = client.flush(timeout_s=20)
            answer = {"ids": child_ids, "delivered": delivered, "stats": client.stats()}
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    parent_ids += send_routing(client, 7, prefix="parent-after")  # ids drawn after the fork
    with os.fdopen(read_end, "rb") as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)

    assert child["delivered"] is True
    assert child["stats"]["sent"] == 7  # the child's own counters: its events only
    assert not set(child["ids"]) & set(parent_ids)  # the child drew its own random ids
    assert client.flush(timeout_s=30)
    assert sorted(receiver.stored_ids()) == sorted(parent_ids + child["ids"])
    sent_by_request = collections.Counter(
        event_id for request in receiver.requests for event_id in request.event_ids
    )
    assert all(sent_by_request[event_id] == 1 for event_id in parent_ids)  # not sent twice


def test_at_exit_the_queue_is_flushed(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    script = textwrap.dedent(
        f"""
        from tollgate_client import Client
        client = Client({receiver.url!r}, "tg_test_key", flush_interval_s=60)
        for index in range(25):
            client.routing(request_id=f"exit-{{index}}", model="gpt-5.4", mode="hybrid",
                           input_tokens=1, output_tokens=1, latency_ms=1.0, status="ok")
        """
    )
    environment = dict(os.environ, PYTHONPATH=str(SRC))
    subprocess.run([sys.executable, "-c", script], check=True, env=environment, timeout=60)

    assert sorted(event["request_id"] for event in receiver.events()) == sorted(
        f"exit-{index}" for index in range(25)
    )


def test_bodies_are_gzip_json_batches(make_receiver: MakeReceiver, make_client: MakeClient) -> None:
    receiver = make_receiver()
    client = make_client(receiver.url)
    send_routing(client, 3)
    assert client.flush(timeout_s=30)

    request = receiver.requests[0]
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer tg_test_key"
    assert request.headers["user-agent"].startswith("tollgate-client/")
    assert len(request.event_ids) == 3

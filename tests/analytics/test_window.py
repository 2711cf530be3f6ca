"""Windows of time: the window before one never leaves the calendar's range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.window import Window


def test_previous_is_the_same_length_just_before():
    start = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    window = Window(start, start + timedelta(hours=4, minutes=30))
    assert window.previous() == Window(start - timedelta(hours=4, minutes=30), start)


def test_previous_of_the_first_days_stops_at_the_first_moment():
    first = datetime.min.replace(tzinfo=UTC)
    window = Window(first + timedelta(hours=1), first + timedelta(days=1))
    assert window.previous() == Window(first, first + timedelta(hours=1))
    assert Window(first, first + timedelta(days=1)).previous() == Window(first, first)

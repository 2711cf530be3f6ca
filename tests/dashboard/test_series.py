"""Chart series: the overview's line of the previous window sits under the current window's
intervals by position, whatever the window's length against the chart's interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from analytics.dashboard.filters import selection_from
from analytics.dashboard.series import compared_with_previous
from analytics.rollups.job import rollups_advance
from tests.conftest import routing_event

pytestmark = pytest.mark.django_db(transaction=True)


def moment(day: datetime, hour: int, minute: int) -> datetime:
    return day.replace(hour=hour, minute=minute)


def test_the_previous_window_is_paired_by_position(post_batch, organization):
    day = datetime.combine(timezone.now().date() - timedelta(days=3), datetime.min.time(), UTC)
    # 4 h 30 from 10:30: hourly intervals 10:00 ... 14:00; the previous window 06:00 to 10:30
    # has intervals 06:00 ... 10:00, so its second interval (07:00) pairs with 11:00.
    before = [
        routing_event(timestamp=moment(day, 7, 15).isoformat(), request_id=f"before-{index}")
        for index in range(2)
    ]
    now = [
        routing_event(timestamp=moment(day, 11, 15).isoformat(), request_id=f"now-{index}")
        for index in range(3)
    ]
    last = [routing_event(timestamp=moment(day, 10, 20).isoformat(), request_id="last-before")]
    assert post_batch(before + now + last).status_code == 200
    rollups_advance(max_seconds=float("inf"))

    selection = selection_from(
        {
            "range": "custom",
            "from": moment(day, 10, 30).isoformat(),
            "to": moment(day, 15, 0).isoformat(),
        },
        organization_id=organization.pk,
        now=timezone.now(),
    )
    assert selection.interval == "hour" and selection.length_label == "270 min"
    current, previous = compared_with_previous(selection, "requests", label="Requests")
    hours = [moment(day, hour, 0) for hour in range(10, 15)]
    assert [point[0] for point in current.points] == hours
    assert [point[0] for point in previous.points] == hours
    assert [value for _, value in current.points] == [0.0, 3.0, 0.0, 0.0, 0.0]
    # 06:00, 07:00 (2 requests), 08:00, 09:00, and 10:00 to 10:30 (1 request).
    assert [value for _, value in previous.points] == [0.0, 2.0, 0.0, 0.0, 1.0]
    assert previous.dashed and previous.name == "Requests, previous 270 min"

"""A page's range and filters: presets, custom windows typed in UTC, what links keep, the
organization's own filter options, and refusals that name the parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from analytics.dashboard.filters import (
    BadSelection,
    filter_options,
    interval_for,
    selection_from,
)
from analytics.metrics.window import Window
from tests.governance.factories import MatrixModelFactory, ProjectFactory, ServiceFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 10, 30, 42, tzinfo=UTC)


def test_presets_end_now_to_the_minute(project):
    selection = selection_from({"range": "7d"}, organization_id=project.organization_id, now=NOW)
    assert selection.window == Window(
        datetime(2026, 11, 18, 10, 30, tzinfo=UTC), datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    )
    assert selection.previous.window.end == selection.window.start
    assert selection.interval == "hour" and selection.length_label == "7 d"
    default = selection_from({}, organization_id=project.organization_id, now=NOW)
    assert default.range == "24h" and default.length_label == "24 h"


def test_custom_window_typed_without_offset_is_utc(project):
    selection = selection_from(
        {"range": "custom", "from": "2026-11-20T08:00", "to": "2026-11-21T08:00"},
        organization_id=project.organization_id,
        now=NOW,
    )
    assert selection.window.start == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert selection.params == {
        "range": "custom",
        "from": "2026-11-20T08:00",
        "to": "2026-11-21T08:00",
    }
    # A link from an email carries from/to alone: that is a custom range.
    linked = selection_from(
        {"from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"},
        organization_id=project.organization_id,
        now=NOW,
    )
    assert linked.range == "custom" and linked.interval == "hour"


def test_links_keep_filters_and_range_links_drop_the_dates(project, service):
    selection = selection_from(
        {
            "range": "custom",
            "from": "2026-11-20T08:00",
            "to": "2026-11-21T08:00",
            "project": "support",
            "service": "router",
            "mode": "hybrid",
            "ignored": "x",
        },
        organization_id=project.organization_id,
        now=NOW,
    )
    kept = parse_qs(selection.querystring)
    assert kept["project"] == ["support"] and kept["service"] == ["router"]
    assert kept["mode"] == ["hybrid"] and "ignored" not in kept
    assert parse_qs(selection.with_range("1h")) == {
        "range": ["1h"],
        "project": ["support"],
        "service": ["router"],
        "mode": ["hybrid"],
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "fortnight"}, "range"),
        ({"range": "custom", "from": "yesterday"}, "from"),
        ({"range": "custom", "from": "2026-11-21T08:00", "to": "2026-11-20T08:00"}, "from"),
        ({"mode": "fastest"}, "mode"),
        ({"project": "nope"}, "project"),
    ],
)
def test_refusals_name_the_parameter(project, params, field):
    with pytest.raises(BadSelection) as refused:
        selection_from(params, organization_id=project.organization_id, now=NOW)
    assert refused.value.field == field


def test_another_organizations_project_is_not_visible(project):
    other = ProjectFactory.create()  # another organization's
    with pytest.raises(BadSelection) as refused:
        selection_from({"project": other.name}, organization_id=project.organization_id, now=NOW)
    assert refused.value.field == "project"


def test_interval_gives_a_readable_number_of_points():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert interval_for(Window(start, start + timedelta(hours=1))) == "minute"
    assert interval_for(Window(start, start + timedelta(days=7))) == "hour"
    assert interval_for(Window(start, start + timedelta(days=30))) == "day"


def test_filter_options_are_the_organizations_own(project, service):
    rival = ServiceFactory.create(name="rival-svc").project  # of another organization
    MatrixModelFactory.create(project=rival, name="rival-model")
    options = filter_options(organization_id=project.organization_id)
    assert options.project == ["support"]
    assert options.service == ["router"]
    assert "gpt-5.4" in options.model and "rival-model" not in options.model
    assert options.mode == ["routing_first", "enforcement_first", "hybrid", "unknown"]

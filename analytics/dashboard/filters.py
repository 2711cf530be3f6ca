"""The time range and filters of a dashboard page, read from the URL.

A page's parameters (`range` 1h / 24h / 7d / 30d / custom with `from` and `to`, and
`project`, `service`, `model`, `mode`, `environment`, `policy`) become the metrics API's parameters and
go through the API's own parser (`analytics.api.params.metrics_query`), so a page and the API
answer the same figures for the same filters, scoped the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db import connection

from analytics.api.params import MODE_CHOICES, BadParameter, is_row_id, metrics_query
from analytics.metrics.query import MetricsQuery
from analytics.metrics.window import INTERVAL_GRAIN, Window, floor_to
from governance.models import MatrixModel, Project, Service

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d", "custom": "custom"}
DEFAULT_RANGE = "24h"
FILTER_NAMES = ("project", "service", "model", "mode", "environment", "policy")
INTERVAL_STEP = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


class BadSelection(ValueError):
    """A range or filter the page cannot show; `field` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")  # worded like the API's BadParameter
        self.field = field


def interval_for(window: Window) -> str:
    """The chart grain: about 24 to 180 points whatever the range."""
    span = window.end - window.start
    if span <= timedelta(hours=3):
        return "minute"
    if span <= timedelta(days=8):
        return "hour"
    return "day"


@dataclass(frozen=True)
class Selection:
    """What a page shows: the range picked, the query it makes, and what links keep."""

    range: str
    query: MetricsQuery
    params: dict[str, str]  # kept in every link, in a stable order

    @property
    def window(self) -> Window:
        """The window the page shows, to the minute."""
        return self.query.window

    @property
    def previous(self) -> MetricsQuery:
        """The same filters over the window of the same length just before."""
        return dataclasses.replace(self.query, window=self.window.previous())

    @property
    def interval(self) -> str:
        """The charts' interval name (`minute`, `hour`, `day`) for this window."""
        return interval_for(self.window)

    @property
    def step(self) -> timedelta:
        """The length of one chart interval."""
        return INTERVAL_STEP[self.interval]

    @property
    def querystring(self) -> str:
        """The selection as a query string, for links that keep it."""
        return urlencode(self.params)

    @property
    def length_label(self) -> str:
        """The window's length for people (`24 h`, `7 d`, `270 min`)."""
        return length_label(self.window.end - self.window.start)

    def with_range(self, name: str) -> str:
        """The query string of the same filters over another preset range."""
        kept = {k: v for k, v in self.params.items() if k not in ("range", "from", "to")}
        return urlencode({"range": name, **kept})

    def buckets(self, window: Window | None = None) -> list[datetime]:
        """Every interval start of the window (or of another one, at this page's interval),
        for charts that show empty intervals too."""
        window = window or self.window
        moment, answer = floor_to(window.start, INTERVAL_GRAIN[self.interval]), []
        while moment < window.end:
            answer.append(moment)
            moment += self.step
        return answer


def length_label(span: timedelta) -> str:
    """A span for people: whole days past a day, else hours, else minutes."""
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes > 1440:  # "24 h" reads better than "1 d"
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _as_utc(raw: str) -> str:
    """A custom range's `from`/`to` as typed in a datetime-local box (no offset) is UTC, the
    time every page shows; anything else goes to the API parser as it is, to be judged."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw
    return moment.replace(tzinfo=UTC).isoformat() if moment.tzinfo is None else raw


def selection_from(params: Mapping[str, str], *, organization_id: int, now: datetime) -> Selection:
    """The page's selection, or BadSelection naming the parameter at fault."""
    has_dates = bool(params.get("from") or params.get("to"))
    range_name = params.get("range") or ("custom" if has_dates else DEFAULT_RANGE)
    if range_name not in RANGE_LABELS:
        raise BadSelection("range", f"must be one of {', '.join(RANGE_LABELS)}")
    api_params = {name: params[name] for name in FILTER_NAMES if params.get(name)}
    kept = {"range": range_name}
    if range_name == "custom":
        for name in ("from", "to"):
            if params.get(name):
                api_params[name] = _as_utc(params[name])
                kept[name] = params[name]
    else:
        end = floor_to(now, "m")
        api_params["from"] = (end - RANGES[range_name]).isoformat()
        api_params["to"] = end.isoformat()
    try:
        query = metrics_query(api_params, organization_id=organization_id, api_key=None)
    except BadParameter as exc:
        raise BadSelection(exc.field, exc.message) from None
    kept.update({name: api_params[name] for name in FILTER_NAMES if name in api_params})
    return Selection(range=range_name, query=query, params=kept)


def alert_param(params: Mapping[str, str]) -> int | None:
    """The alert an emailed link highlights (`alert=12`), or BadSelection naming `alert`."""
    raw = params.get("alert") or ""
    if not raw:
        return None
    if not is_row_id(raw):
        raise BadSelection("alert", "must be an alert's number")
    return int(raw)


# --- Filter options -----------------------------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    """The values each filter offers: the organization's own projects, services, models,
    environments and policies (models, environments and policies as seen in its traffic,
    models also from its matrix)."""

    project: list[str]
    service: list[str]
    model: list[str]
    mode: list[str]
    environment: list[str]
    policy: list[str]


DISTINCT_SEEN_SQL = """
SELECT 'model', model FROM analytics_attemptrollup
WHERE project_id = ANY(%(projects)s) AND grain = 'd' AND model <> ''
UNION
SELECT 'environment', environment FROM analytics_requestrollup
WHERE project_id = ANY(%(projects)s) AND grain = 'd'
UNION
SELECT 'policy', policy FROM analytics_layerrollup
WHERE project_id = ANY(%(projects)s) AND grain = 'd'
"""


def filter_options(*, organization_id: int) -> FilterOptions:
    """Options for the filter boxes, in three reads (day rollups are few rows)."""
    projects = dict(
        Project.objects.filter(organization_id=organization_id).values_list("pk", "name")
    )
    services = Service.objects.filter(project__organization_id=organization_id)
    matrix = MatrixModel.objects.filter(project__organization_id=organization_id)
    seen: dict[str, set[str]] = {"model": set(matrix.values_list("name", flat=True))}
    seen["environment"], seen["policy"] = set(), set()
    with connection.cursor() as cursor:
        cursor.execute(DISTINCT_SEEN_SQL, {"projects": list(projects)})
        for kind, value in cursor.fetchall():
            seen[kind].add(value)
    return FilterOptions(
        project=sorted(projects.values()),
        service=sorted(set(services.values_list("name", flat=True))),
        model=sorted(seen["model"]),
        mode=list(MODE_CHOICES),
        environment=sorted(seen["environment"]),
        policy=sorted(seen["policy"]),
    )

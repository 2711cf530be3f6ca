"""Architectures: the comparison of modes side by side (a column per mode, the figures grouped
by the article's dimensions, the article's reference beside each comparable one and where the
figure lies against it), charts per mode, and each project's advice.

The comparison has a row per mode, so the mode filter does not apply here: the page drops it
from its selection (the nav keeps other pages' filters, mode included) and says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Figure, count, figure, ms, raw, seconds
from analytics.dashboard.pages.advice import ADVICE_SHOWN, project_advice_cards
from analytics.dashboard.series import lines
from analytics.formatting import multiple, percent, ratio_percent, usd
from analytics.metrics.compare import metrics_compare
from analytics.metrics.results import CompareRow, Comparison, FigurePosition, ReferenceRange

MODE_LABELS = {
    "routing_first": "Routing-first",
    "enforcement_first": "Enforcement-first",
    "hybrid": "Hybrid",
    "unknown": "Mode not reported",
}
# Which side of its reference a figure is worse on (the rest are judged better there).
WORSE_WHEN = {
    "latency_p50_ms": "above",
    "latency_p95_ms": "above",
    "latency_p99_ms": "above",
    "error_rate": "above",
    "violation_rate": "above",
    "availability": "below",
    "migration_time_s": "above",
    "savings_share": "below",
}
MODEL_SHARES_SHOWN = 3  # the most used models of a mode; the API lists them all


@dataclass(frozen=True)
class Cell:
    """One mode's value of a figure, with the article's reference and where it lies."""

    mode: str
    value: Any  # as the API answers it (money a Decimal), for data-value
    display: str
    reference: str = ""  # "ref 150 ms", "ref 0.5-2%"; empty without a reference
    position: str | None = None  # below, within, above (None: no value or no reference)
    verdict: str = ""  # the position in words, saying whether that side is worse
    tone: str = ""  # good, ok, bad: the cell's colour
    note: str = ""

    @property
    def data_value(self) -> str:
        return raw(self.value)


@dataclass(frozen=True)
class Line:
    """A figure across the modes: a row of the table, a cell per mode column."""

    metric: str
    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Dimension:
    """One of the article's dimensions: a heading and its figures."""

    key: str
    title: str
    lines: tuple[Line, ...]
    note: str = ""


def without_mode(selection: Selection) -> Selection:
    """The selection the comparison reads: every filter but mode."""
    query = dataclasses.replace(
        selection.query,
        mode=None,
        applied={k: v for k, v in selection.query.applied.items() if k != "mode"},
    )
    params = {k: v for k, v in selection.params.items() if k != "mode"}
    return dataclasses.replace(selection, query=query, params=params)


def reference_text(reference: ReferenceRange) -> str:
    """The article's figure as it writes it: `ref 150 ms`, `ref 0.5-2%`, `ref 30-120 s`."""
    if reference.figure.endswith("_ms"):
        unit, scale = " ms", 1.0
    elif reference.figure.endswith("_s"):
        unit, scale = " s", 1.0
    else:
        unit, scale = "%", 100.0
    low, high = (f"{round(v * scale, 6):g}" for v in (reference.low, reference.high))
    return f"ref {low}{unit}" if reference.single else f"ref {low}-{high}{unit}"


def verdict(figure_name: str, position: str | None) -> tuple[str, str]:
    """The position in words and its tone: within is ok; the worse side is bad."""
    if position is None:
        return "", ""
    if position == "within":
        return "within", "ok"
    worse = WORSE_WHEN.get(figure_name) == position
    return f"{position}: {'worse' if worse else 'better'}", "bad" if worse else "good"


def _cell(row: CompareRow, metric: str, value: Any, display: str, note: str = "") -> Cell:
    """A cell, with the reference and position when the row has one for `metric`."""
    reference = {ref.figure: ref for ref in row.reference}.get(metric)
    if reference is None:
        return Cell(row.mode, value, display, note=note)
    placed: FigurePosition = next(p for p in row.position if p.figure == metric)
    words, tone = verdict(metric, placed.position)
    return Cell(
        row.mode,
        value,
        display,
        reference=reference_text(reference),
        position=placed.position,
        verdict=words,
        tone=tone,
        note=note,
    )


Reader = Callable[[CompareRow], tuple[Any, str]]


def _line(rows: Sequence[CompareRow], metric: str, label: str, read: Reader) -> Line:
    cells = []
    for row in rows:
        value, display = read(row)
        cells.append(_cell(row, metric, value, display))
    return Line(metric, label, tuple(cells))


def _rate(get: Callable[[CompareRow], float | None]) -> Reader:
    return lambda row: (get(row), percent(get(row)))


def _ms(get: Callable[[CompareRow], float | None]) -> Reader:
    return lambda row: (get(row), ms(get(row)))


def _per_request(get: Callable[[CompareRow], float | None]) -> Reader:
    return lambda row: (get(row), "—" if get(row) is None else f"{get(row):,.2f}")


def _savings_share(row: CompareRow) -> float | None:
    """The savings share the article's figure of the mode speaks of (it differs by mode:
    `analytics.metrics.reference`); the unknown mode has none."""
    found = [p.value for p in row.position if p.figure == "savings_share"]
    return found[0] if found else None


def _model_shares(row: CompareRow) -> tuple[Any, str]:
    shares = row.traffic.model_shares
    shown = ", ".join(f"{s.model} {percent(s.share)}" for s in shares[:MODEL_SHARES_SHOWN])
    more = len(shares) - MODEL_SHARES_SHOWN
    return len(shares), (shown + (f" and {more} more" if more > 0 else "")) or "—"


def _migration(row: CompareRow) -> tuple[Any, str]:
    times = row.reliability.migration_time_s
    if not times.count:
        return None, "no model incident"
    incidents = count(times.count, "incidents")
    return times.median_s, f"{seconds(times.median_s)} (median of {incidents})"


def dimensions(rows: Sequence[CompareRow]) -> list[Dimension]:
    """The table's dimensions as the article groups them, each a line per figure."""
    line = _line
    found = [
        Dimension(
            "traffic",
            "Traffic",
            (
                line(
                    rows,
                    "requests",
                    "Requests",
                    lambda r: (r.traffic.requests, count(r.traffic.requests, "requests")),
                ),
                line(
                    rows,
                    "attempts",
                    "Model calls",
                    lambda r: (r.traffic.attempts, count(r.traffic.attempts, "calls")),
                ),
                line(rows, "model_shares", "Models (share of calls)", _model_shares),
                line(
                    rows,
                    "fallback_share",
                    "Calls that were fallbacks",
                    _rate(lambda r: r.traffic.fallback_share),
                ),
                line(
                    rows,
                    "routing_latency_p95_ms",
                    "Routing decision P95",
                    _ms(lambda r: r.traffic.routing_latency_ms.p95),
                ),
            ),
        ),
        Dimension(
            "latency",
            "Latency",
            (
                line(
                    rows,
                    "latency_p50_ms",
                    "Model call P50",
                    _ms(lambda r: r.latency.latency_ms.p50),
                ),
                line(
                    rows,
                    "latency_p95_ms",
                    "Model call P95",
                    _ms(lambda r: r.latency.latency_ms.p95),
                ),
                line(
                    rows,
                    "latency_p99_ms",
                    "Model call P99",
                    _ms(lambda r: r.latency.latency_ms.p99),
                ),
                line(
                    rows,
                    "overhead_p95_ms",
                    "Checks' overhead P95",
                    _ms(lambda r: r.latency.overhead_ms.p95),
                ),
                line(
                    rows,
                    "end_to_end_p50_ms",
                    "End to end P50",
                    _ms(lambda r: r.latency.end_to_end_ms.p50),
                ),
                line(
                    rows,
                    "end_to_end_p95_ms",
                    "End to end P95",
                    _ms(lambda r: r.latency.end_to_end_ms.p95),
                ),
                line(
                    rows,
                    "end_to_end_p99_ms",
                    "End to end P99",
                    _ms(lambda r: r.latency.end_to_end_ms.p99),
                ),
            ),
            note="The article's latencies are of the model call; end to end adds the routing decision and the checks.",
        ),
        Dimension(
            "cost",
            "Cost",
            (
                line(
                    rows,
                    "cost_usd",
                    "Model spend",
                    lambda r: (r.cost.cost_usd, usd(r.cost.cost_usd)),
                ),
                line(
                    rows,
                    "cost_per_1k_requests_usd",
                    "Spend per 1,000 requests",
                    lambda r: (
                        r.cost.cost_per_1k_requests_usd,
                        usd(r.cost.cost_per_1k_requests_usd),
                    ),
                ),
                line(
                    rows,
                    "routing_savings_usd",
                    "Routing savings (against the baseline model)",
                    lambda r: (r.cost.routing_savings_usd, usd(r.cost.routing_savings_usd)),
                ),
                line(
                    rows,
                    "enforcement_cost_per_1k_requests_usd",
                    "Enforcement cost per 1,000 requests",
                    lambda r: (
                        r.cost.enforcement_cost_per_1k_requests_usd,
                        usd(r.cost.enforcement_cost_per_1k_requests_usd),
                    ),
                ),
                line(
                    rows,
                    "savings_share",
                    "Savings share (the article's measure for the mode)",
                    _rate(_savings_share),
                ),
                line(
                    rows,
                    "roi",
                    "Enforcement ROI",
                    lambda r: (r.cost.roi, ratio_percent(r.cost.roi)),
                ),
                line(
                    rows,
                    "savings_multiple",
                    "Savings multiple",
                    lambda r: (r.cost.savings_multiple, multiple(r.cost.savings_multiple)),
                ),
            ),
            note="Savings share: routing-first, token spend saved against the baseline model; enforcement-first, the error cost the checks avoided; hybrid, both of the two costs together.",
        ),
        Dimension(
            "security",
            "Security",
            (
                line(
                    rows,
                    "violation_rate",
                    "Escaped violation rate",
                    _rate(lambda r: r.security.violation_rate),
                ),
                line(
                    rows,
                    "interception_rate",
                    "Interception rate",
                    _rate(lambda r: r.security.interception_rate),
                ),
                line(rows, "catch_rate", "Catch rate", _rate(lambda r: r.security.catch_rate)),
                line(
                    rows,
                    "false_positive_rate",
                    "False-positive rate",
                    _rate(lambda r: r.security.false_positive_rate),
                ),
                line(
                    rows,
                    "checks_per_request",
                    "Checks per request",
                    _per_request(lambda r: r.security.checks_per_request),
                ),
                line(
                    rows,
                    "layers_per_request",
                    "Layers per checked request",
                    _per_request(lambda r: r.security.layers_per_request),
                ),
            ),
        ),
        Dimension(
            "reliability",
            "Reliability",
            (
                line(
                    rows,
                    "error_rate",
                    "Error rate (calls)",
                    _rate(lambda r: r.reliability.error_rate),
                ),
                line(
                    rows,
                    "availability",
                    "Availability (requests served)",
                    _rate(lambda r: r.reliability.availability),
                ),
                line(rows, "migration_time_s", "Traffic migration time", _migration),
            ),
        ),
        Dimension(
            "observability",
            "Observability",
            (
                line(
                    rows,
                    "events_per_request",
                    "Events per request",
                    _per_request(lambda r: r.observability.events_per_request),
                ),
            ),
            note="Attempts and checks reported per request: what a trace of one request holds.",
        ),
    ]
    maintainability = _maintainability(rows)
    return [*found, maintainability] if maintainability else found


def _maintainability(rows: Sequence[CompareRow]) -> Dimension | None:
    """Rollouts per mode, once CompareRow carries them.

    TEMPORARY SEAM: the maintainability group (`analytics.metrics.rollouts.RolloutsSummary`:
    rollouts, propagation_s {median, max}, mixed_version_share) is added to CompareRow by the
    rollouts work; until the integrator wires it, `getattr` finds nothing and the dimension is
    not drawn. Replace the getattr with `row.maintainability` then."""
    groups = [getattr(row, "maintainability", None) for row in rows]
    if not any(groups):
        return None

    def read(field: Callable[[Any], tuple[Any, str]]) -> Reader:
        return lambda row: field(getattr(row, "maintainability", None))

    def none() -> tuple[Any, str]:
        return None, "—"

    return Dimension(
        "maintainability",
        "Maintainability",
        (
            _line(
                rows,
                "rollouts",
                "Rollouts (router and policy versions)",
                read(lambda m: (m.rollouts, count(m.rollouts, "rollouts")) if m else none()),
            ),
            _line(
                rows,
                "propagation_median_s",
                "Propagation, median",
                read(
                    lambda m: (
                        (m.propagation_s.median, seconds(m.propagation_s.median)) if m else none()
                    )
                ),
            ),
            _line(
                rows,
                "propagation_max_s",
                "Propagation, longest",
                read(
                    lambda m: (m.propagation_s.max, seconds(m.propagation_s.max)) if m else none()
                ),
            ),
            _line(
                rows,
                "mixed_version_share",
                "Events on an older version during rollouts",
                read(
                    lambda m: (
                        (m.mixed_version_share, percent(m.mixed_version_share)) if m else none()
                    )
                ),
            ),
        ),
    )


def headline(comparison: Comparison) -> list[Figure]:
    """The page's figures: requests in view and the modes they ran in."""
    requests = sum(row.traffic.requests for row in comparison.rows)
    known = [row.mode for row in comparison.rows if row.mode != "unknown"]
    return [
        figure("requests", "Requests", "count", requests, unit="requests"),
        figure(
            "modes",
            "Modes with traffic",
            "count",
            len(known),
            unit="modes",
            note=", ".join(MODE_LABELS[mode] for mode in known) or "none reported",
        ),
    ]


def _references(row: CompareRow, figure_name: str) -> tuple[float, float] | None:
    found = [ref for ref in row.reference if ref.figure == figure_name]
    return (found[0].low, found[0].high) if found else None


def comparison_charts(selection: Selection, rows: Sequence[CompareRow]) -> list[SafeString]:
    """Latency against the reference, cost per 1,000 requests, escaped violations against the
    reference range, per mode; and each mode's end-to-end P95 over the window."""
    modes = [MODE_LABELS[row.mode] for row in rows]
    latency = [
        charts.Bars(
            name,
            [getattr(row.latency.latency_ms, key) for row in rows],
            [_references(row, f"latency_{key}_ms") for row in rows],
        )
        for name, key in (("P50", "p50"), ("P95", "p95"), ("P99", "p99"))
    ]
    start, end = selection.buckets()[0], selection.window.end
    order = list(MODE_LABELS)  # the table's order, not the names' alphabetical one
    end_to_end = [
        dataclasses.replace(series, name=MODE_LABELS.get(series.name, series.name))
        for series in sorted(
            lines(selection, "end_to_end_p95_ms", group_by="mode"),
            key=lambda series: order.index(series.name) if series.name in order else len(order),
        )
    ]
    return [
        charts.bar_chart(
            modes,
            latency,
            title="Model call latency per mode against the article's reference",
            y_label="ms",
            fmt=ms,
        ),
        charts.bar_chart(
            modes,
            [
                charts.Bars(
                    "Model spend per 1,000 requests",
                    [_money(row.cost.cost_per_1k_requests_usd) for row in rows],
                ),
                charts.Bars(
                    "Enforcement cost per 1,000 requests",
                    [_money(row.cost.enforcement_cost_per_1k_requests_usd) for row in rows],
                ),
            ],
            title="Cost per 1,000 requests per mode",
            y_label="USD per 1,000 requests",
            fmt=usd,
        ),
        charts.bar_chart(
            modes,
            [
                charts.Bars(
                    "Escaped violation rate",
                    [row.security.violation_rate for row in rows],
                    [_references(row, "violation_rate") for row in rows],
                )
            ],
            title="Escaped violation rate per mode against the article's range",
            y_label="share of requests",
            fmt=percent,
        ),
        charts.line_chart(
            end_to_end,
            title="End-to-end latency P95 per mode (model calls and checks of a request)",
            y_label="ms",
            fmt=ms,
            start=start,
            end=end,
            axis="log",
        ),
    ]


def _money(value: Any) -> float | None:
    return None if value is None else float(value)  # charts draw money as floats


def architectures_context(selection: Selection) -> dict[str, Any]:
    """The page: headline, the table of dimensions by mode, the charts, and each project's
    advice (of the selection without its mode: `without_mode`)."""
    selection = without_mode(selection)
    comparison = metrics_compare(selection.query)
    rows = comparison.rows
    advice, advice_more = project_advice_cards(selection)
    context: dict[str, Any] = {
        "hide_mode_filter": True,
        "empty": not rows,
        "figures": headline(comparison),
        "columns": [(row.mode, MODE_LABELS[row.mode]) for row in rows],
        "dimensions": dimensions(rows) if rows else [],
        "charts": comparison_charts(selection, rows) if rows else [],
        "advice": advice,
        "advice_more": advice_more,
        "advice_shown": ADVICE_SHOWN,
    }
    return context

"""Architectures: the comparison of modes side by side (a column per mode, the figures grouped
by the article's dimensions, the article's reference beside each comparable one and where the
figure lies against it), charts per mode, and each project's advice.

The comparison has a row per mode, so the mode filter does not apply here: the view drops it
from the selection (`without_mode`), its nav links included, and the page says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from django.utils.safestring import SafeString

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Figure, figure, ms
from analytics.dashboard.pages.advice import ADVICE_SHOWN, project_advice_cards
from analytics.dashboard.pages.comparison_table import MODE_LABELS, dimensions
from analytics.dashboard.series import chart_number, lines
from analytics.formatting import percent, usd
from analytics.metrics.compare import metrics_compare
from analytics.metrics.results import CompareRow, Comparison

LATENCY_CEILING = 2.5  # the latency chart's axis stops at this many times the slowest reference


def without_mode(selection: Selection) -> Selection:
    """The selection the comparison reads: every filter but mode."""
    query = dataclasses.replace(
        selection.query,
        mode=None,
        applied={k: v for k, v in selection.query.applied.items() if k != "mode"},
    )
    params = {k: v for k, v in selection.params.items() if k != "mode"}
    return dataclasses.replace(selection, query=query, params=params)


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
    # An outage's seconds-long tail would flatten every other bar: the axis stops at a few
    # times the article's slowest figure, and a taller bar is cut there with its value on it.
    ceiling = LATENCY_CEILING * max(
        (ref.high for row in rows for ref in row.reference if ref.figure.startswith("latency_")),
        default=0.0,
    )
    tallest = max((v for bars in latency for v in bars.values if v is not None), default=0.0)
    cut = bool(ceiling) and tallest > ceiling
    return [
        charts.bar_chart(
            modes,
            latency,
            title="Model call latency per mode against the article's reference"
            + (" (tall bars cut)" if cut else ""),
            y_label="ms",
            fmt=ms,
            ceiling=ceiling or None,
            labels=False,
        ),
        charts.bar_chart(
            modes,
            [
                charts.Bars(
                    "Model spend",
                    [chart_number(row.cost.cost_per_1k_requests_usd) for row in rows],
                ),
                charts.Bars(
                    "Enforcement cost",
                    [chart_number(row.cost.enforcement_cost_per_1k_requests_usd) for row in rows],
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


def architectures_context(selection: Selection) -> dict[str, Any]:
    """The page: headline, the table of dimensions by mode, the charts, and each project's
    advice, for a selection without a mode (`without_mode`)."""
    comparison = metrics_compare(selection.query)
    rows = comparison.rows
    advice, advice_more = project_advice_cards(selection, comparison)
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

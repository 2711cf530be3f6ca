"""The architectures page's table: the comparison's figures by the article's dimensions, a
line per figure and a cell per mode, each comparable cell with the article's reference beside
it and where the figure lies against it, in words ("above: worse") as well as colour."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.dashboard.formatting import count, ms, raw, seconds
from analytics.formatting import NA, multiple, percent, ratio_percent, usd
from analytics.metrics.query import MODE_WORDS
from analytics.metrics.reference import reference_words
from analytics.metrics.results import CompareRow, FigurePosition, ReferenceRange

MODE_LABELS = {mode: words[0].upper() + words[1:] for mode, words in MODE_WORDS.items()}
# Which side of its reference a figure is worse on (the other side is better).
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

    @property
    def mode_label(self) -> str:
        """The column's heading, repeated in the cell where the heading scrolls away."""
        return MODE_LABELS.get(self.mode, self.mode)

    @property
    def parts(self) -> list[str]:
        """The display's lines (a mode's models, one a line); each keeps to one line."""
        return self.display.split("\n")


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


def reference_text(reference: ReferenceRange) -> str:
    """The article's figure beside a cell: `ref 150 ms`, `ref 0.5-2%`, `ref 30-120 s`."""
    return f"ref {reference_words(reference)}"


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


Reader = Callable[[CompareRow], tuple[Any, str]]  # a figure of a row: its value and display
Get = Callable[[CompareRow], Any]


def _shown(show: Callable[[Any], str], get: Get) -> Reader:
    return lambda row: (get(row), show(get(row)))


def _counted(unit: str, get: Get) -> Reader:
    return lambda row: (get(row), count(get(row), unit))


def _per_request(value: float | None) -> str:
    return NA if value is None else f"{value:,.2f}"


def _savings_share(row: CompareRow) -> float | None:
    """The savings share the article's figure of the mode speaks of (it differs by mode:
    `analytics.metrics.reference`); the unknown mode has none."""
    found = [p.value for p in row.position if p.figure == "savings_share"]
    return found[0] if found else None


def _model_shares(row: CompareRow) -> tuple[Any, str]:
    """The count of models, and the most used with their shares, a line each."""
    shares = row.traffic.model_shares
    shown = [f"{share.model} {percent(share.share)}" for share in shares[:MODEL_SHARES_SHOWN]]
    more = len(shares) - MODEL_SHARES_SHOWN
    if more > 0:
        shown.append(f"and {more} more")
    return len(shares), "\n".join(shown) or NA


def _migration(row: CompareRow) -> tuple[Any, str]:
    times = row.reliability.migration_time_s
    if not times.count:
        return None, "no model incident"
    incidents = count(times.count, "incidents")
    return times.median_s, f"{seconds(times.median_s)} (median of {incidents})"


# The table: the article's dimensions, each (key, title, note, its figures as (data-metric,
# label, reader)). A figure whose data-metric names a reference figure shows the reference.
DIMENSIONS: tuple[tuple[str, str, str, tuple[tuple[str, str, Reader], ...]], ...] = (
    (
        "traffic",
        "Traffic",
        "",
        (
            ("requests", "Requests", _counted("requests", lambda r: r.traffic.requests)),
            ("attempts", "Model calls", _counted("calls", lambda r: r.traffic.attempts)),
            ("model_shares", "Models (share of calls)", _model_shares),
            (
                "fallback_share",
                "Calls that were fallbacks",
                _shown(percent, lambda r: r.traffic.fallback_share),
            ),
            (
                "routing_latency_p95_ms",
                "Routing decision P95",
                _shown(ms, lambda r: r.traffic.routing_latency_ms.p95),
            ),
        ),
    ),
    (
        "latency",
        "Latency",
        "The article's latencies are of the model call; end to end adds the routing decision "
        "and the checks.",
        (
            ("latency_p50_ms", "Model call P50", _shown(ms, lambda r: r.latency.latency_ms.p50)),
            ("latency_p95_ms", "Model call P95", _shown(ms, lambda r: r.latency.latency_ms.p95)),
            ("latency_p99_ms", "Model call P99", _shown(ms, lambda r: r.latency.latency_ms.p99)),
            (
                "overhead_p95_ms",
                "Checks' overhead P95",
                _shown(ms, lambda r: r.latency.overhead_ms.p95),
            ),
            (
                "end_to_end_p50_ms",
                "End to end P50",
                _shown(ms, lambda r: r.latency.end_to_end_ms.p50),
            ),
            (
                "end_to_end_p95_ms",
                "End to end P95",
                _shown(ms, lambda r: r.latency.end_to_end_ms.p95),
            ),
            (
                "end_to_end_p99_ms",
                "End to end P99",
                _shown(ms, lambda r: r.latency.end_to_end_ms.p99),
            ),
        ),
    ),
    (
        "cost",
        "Cost",
        "Savings share: routing-first, token spend saved against the baseline model; "
        "enforcement-first, the error cost the checks avoided; hybrid, both of the two costs "
        "together.",
        (
            ("cost_usd", "Model spend", _shown(usd, lambda r: r.cost.cost_usd)),
            (
                "cost_per_1k_requests_usd",
                "Spend per 1,000 requests",
                _shown(usd, lambda r: r.cost.cost_per_1k_requests_usd),
            ),
            (
                "routing_savings_usd",
                "Routing savings (against the baseline model)",
                _shown(usd, lambda r: r.cost.routing_savings_usd),
            ),
            (
                "enforcement_cost_per_1k_requests_usd",
                "Enforcement cost per 1,000 requests",
                _shown(usd, lambda r: r.cost.enforcement_cost_per_1k_requests_usd),
            ),
            (
                "savings_share",
                "Savings share (the article's measure for the mode)",
                _shown(percent, _savings_share),
            ),
            ("roi", "Enforcement ROI", _shown(ratio_percent, lambda r: r.cost.roi)),
            (
                "savings_multiple",
                "Savings multiple",
                _shown(multiple, lambda r: r.cost.savings_multiple),
            ),
        ),
    ),
    (
        "security",
        "Security",
        "",
        (
            (
                "violation_rate",
                "Escaped violation rate",
                _shown(percent, lambda r: r.security.violation_rate),
            ),
            (
                "interception_rate",
                "Interception rate",
                _shown(percent, lambda r: r.security.interception_rate),
            ),
            ("catch_rate", "Catch rate", _shown(percent, lambda r: r.security.catch_rate)),
            (
                "false_positive_rate",
                "False-positive rate",
                _shown(percent, lambda r: r.security.false_positive_rate),
            ),
            (
                "checks_per_request",
                "Checks per request",
                _shown(_per_request, lambda r: r.security.checks_per_request),
            ),
            (
                "layers_per_request",
                "Layers per checked request",
                _shown(_per_request, lambda r: r.security.layers_per_request),
            ),
        ),
    ),
    (
        "reliability",
        "Reliability",
        "",
        (
            (
                "error_rate",
                "Error rate (calls)",
                _shown(percent, lambda r: r.reliability.error_rate),
            ),
            (
                "availability",
                "Availability (requests served)",
                _shown(percent, lambda r: r.reliability.availability),
            ),
            ("migration_time_s", "Traffic migration time", _migration),
        ),
    ),
    (
        "observability",
        "Observability",
        "Attempts and checks reported per request: what a trace of one request holds.",
        (
            (
                "events_per_request",
                "Events per request",
                _shown(_per_request, lambda r: r.observability.events_per_request),
            ),
        ),
    ),
)


def _maintained(show: Callable[[Any], str], get: Callable[[Any], Any]) -> Reader:
    """A maintainability figure of a row (its rollouts in brief: `RolloutsSummary`)."""

    def read(row: CompareRow) -> tuple[Any, str]:
        value = get(row.maintainability)
        return value, show(value)

    return read


MAINTAINABILITY = (
    "maintainability",
    "Maintainability",
    "Router and policy version rollouts: how long a new version took to reach all traffic.",
    (
        ("rollouts", "Rollouts", _maintained(lambda v: count(v, "rollouts"), lambda m: m.rollouts)),
        (
            "propagation_median_s",
            "Propagation, median",
            _maintained(seconds, lambda m: m.propagation_s.median),
        ),
        (
            "propagation_max_s",
            "Propagation, longest",
            _maintained(seconds, lambda m: m.propagation_s.max),
        ),
        (
            "mixed_version_share",
            "Events on an older version during rollouts",
            _maintained(percent, lambda m: m.mixed_version_share),
        ),
    ),
)


def dimensions(rows: Sequence[CompareRow]) -> list[Dimension]:
    """The table's dimensions as the article groups them, each a line per figure (a cell
    per mode)."""
    specs = [*DIMENSIONS, MAINTAINABILITY]
    return [
        Dimension(
            key,
            title,
            tuple(
                Line(metric, label, tuple(_cell(row, metric, *read(row)) for row in rows))
                for metric, label, read in figures
            ),
            note,
        )
        for key, title, note, figures in specs
    ]

"""The reference article's figures per architecture (its section 5, DESIGN.md's reference
table), and where a measured figure lies against one.

Ranges are inclusive; a single value counts as `within` when the figure is within 10% of it
(DESIGN.md). Latencies are in ms, migration time in seconds, rates and shares as fractions.

What `savings_share` is compared with differs by mode, as the article words it:
- routing_first, "20-35% (tokens)": the routing savings / the baseline cost (token spend
  saved by routing against the baseline model);
- enforcement_first, "30-45% (error cost)": the error-cost savings / the error cost the
  traffic met, i.e. caught violations' incident cost / (caught + escaped violations' incident
  cost), the share of the error cost the checks avoided;
- hybrid, "25-40% (total)": (routing savings + error-cost savings) / (baseline cost + the
  error cost met), the share of what the traffic would have cost on the baseline model with
  every violation an incident.
The unknown mode has no reference.
"""

from __future__ import annotations

from analytics.formatting import percent
from analytics.metrics.results import FigurePosition, ReferenceRange

SINGLE_TOLERANCE = 0.10  # a single reference value: within 10% of it
# Figures near 1 whose 10% is read on what they leave out: 99.9% availability is 0.1% of
# requests unserved, and "within 10%" means 0.09-0.11% of them (99.89-99.91%), not 90-100%.
COMPLEMENTED = frozenset({"availability"})


def _figures(
    latency_ms: tuple[float, float, float],
    error_rate: tuple[float, float],
    violation_rate: tuple[float, float],
    availability: float,
    migration_time_s: tuple[float, float],
    savings_share: tuple[float, float],
) -> tuple[ReferenceRange, ...]:
    p50, p95, p99 = latency_ms
    return (
        ReferenceRange("latency_p50_ms", p50, p50),
        ReferenceRange("latency_p95_ms", p95, p95),
        ReferenceRange("latency_p99_ms", p99, p99),
        ReferenceRange("error_rate", *error_rate),
        ReferenceRange("violation_rate", *violation_rate),
        ReferenceRange("availability", availability, availability),
        ReferenceRange("migration_time_s", *migration_time_s),
        ReferenceRange("savings_share", *savings_share),
    )


REFERENCE: dict[str, tuple[ReferenceRange, ...]] = {
    "routing_first": _figures(
        (150, 280, 420), (0.005, 0.02), (0.15, 0.20), 0.999, (30, 120), (0.20, 0.35)
    ),
    "enforcement_first": _figures(
        (180, 320, 500), (0.001, 0.005), (0.0001, 0.001), 0.9999, (15, 60), (0.30, 0.45)
    ),
    "hybrid": _figures(
        (160, 290, 440), (0.003, 0.012), (0.005, 0.02), 0.9995, (20, 90), (0.25, 0.40)
    ),
}


def position_of(value: float | None, reference: ReferenceRange) -> str | None:
    """`below`, `within` or `above` the reference (None without a value)."""
    if value is None:
        return None
    low, high = reference.low, reference.high
    if reference.single and reference.figure in COMPLEMENTED:
        missing = 1 - low
        low = 1 - missing * (1 + SINGLE_TOLERANCE)
        high = 1 - missing * (1 - SINGLE_TOLERANCE)
    elif reference.single:
        low, high = low * (1 - SINGLE_TOLERANCE), high * (1 + SINGLE_TOLERANCE)
    if value < low:
        return "below"
    if value > high:
        return "above"
    return "within"


def positions(
    mode: str, measured: dict[str, float | None]
) -> tuple[tuple[ReferenceRange, ...], tuple[FigurePosition, ...]]:
    """The mode's reference figures and the position of each measured one against them."""
    reference = REFERENCE.get(mode, ())
    return reference, tuple(
        FigurePosition(
            figure=ref.figure,
            value=measured[ref.figure],
            position=position_of(measured[ref.figure], ref),
        )
        for ref in reference
    )


# --- In words (advice's findings, the Architectures page) ---------------------------------


def _unit(figure: str) -> tuple[str, float]:
    """A figure's unit as the article writes it, and the scale from the stored value."""
    if figure.endswith("_ms"):
        return " ms", 1.0
    return (" s", 1.0) if figure.endswith("_s") else ("%", 100.0)


def reference_words(reference: ReferenceRange) -> str:
    """The article's figure as it writes it: `150 ms`, `0.5-2%`, `30-120 s`."""
    unit, scale = _unit(reference.figure)
    low, high = (f"{round(value * scale, 6):g}" for value in (reference.low, reference.high))
    return f"{low}{unit}" if reference.single else f"{low}-{high}{unit}"


def figure_words(figure: str, value: float) -> str:
    """A measured figure beside its reference: latency in whole ms, migration time in whole
    seconds, rates as the dashboard shows them (`formatting.percent`)."""
    unit, _ = _unit(figure)
    return percent(value) if unit == "%" else f"{value:,.0f}{unit}"

"""The Prometheus text exposition format 0.0.4: metric families rendered with HELP and TYPE.

Small on purpose (gauges and histograms are all /metrics needs), so the project carries no
client library for it. Label values and help texts are escaped as the format requires.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Number = int | float | Decimal
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    suffix: str  # "" for gauges; "_bucket", "_sum" or "_count" for histograms
    labels: Labels
    value: Number


@dataclass
class MetricFamily:
    """One metric: its name, type, help and samples, in the order they were added."""

    name: str
    kind: str  # "gauge" or "histogram"
    help: str
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name) or self.kind not in ("gauge", "histogram"):
            raise ValueError(f"not a valid metric: {self.name} ({self.kind})")

    def set(self, labels: Mapping[str, str], value: Number) -> None:
        """A gauge's value for one label set."""
        self.samples.append(Sample("", _labels(labels), value))

    def observe(
        self,
        labels: Mapping[str, str],
        *,
        bounds: Sequence[float],
        counts_at_most: Sequence[int],
        count: int,
        total: Number,
    ) -> None:
        """A histogram's series for one label set: cumulative buckets, +Inf (= count), sum."""
        for bound, at_most in zip(bounds, counts_at_most, strict=True):
            le = {**labels, "le": _number(float(bound))}
            self.samples.append(Sample("_bucket", _labels(le), at_most))
        self.samples.append(Sample("_bucket", _labels({**labels, "le": "+Inf"}), count))
        self.samples.append(Sample("_sum", _labels(labels), total))
        self.samples.append(Sample("_count", _labels(labels), count))


def _labels(labels: Mapping[str, str]) -> Labels:
    for name in labels:
        if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(f"not a valid label name: {name!r}")
    return tuple((name, str(value)) for name, value in labels.items())


def render(families: Iterable[MetricFamily]) -> str:
    """The families as exposition text, each with its HELP and TYPE lines first."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            label_text = ",".join(
                f'{name}="{_escape_label(value)}"' for name, value in sample.labels
            )
            braces = f"{{{label_text}}}" if label_text else ""
            lines.append(f"{family.name}{sample.suffix}{braces} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Number) -> str:
    """A sample value as the format writes it: integers plain, money exact, NaN and Inf named."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))

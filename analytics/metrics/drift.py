"""Routing drift: the population stability index (PSI) of each project's model mix against
its reference mix (the expected shares, or the trailing 7 days when it expects none), and
band conformance (attempts on the model their complexity band expects)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from analytics.metrics.query import MetricsQuery, Totals, rate, rollup_totals, totals_sum
from analytics.metrics.results import Drift, DriftPoint, MixShare
from analytics.metrics.window import Window
from analytics.rollups.families import ATTEMPTS
from governance.models import ComplexityBand, Project
from governance.selectors import complexity_bands

PSI_FLOOR = 0.0001
TRAILING_REFERENCE = timedelta(days=7)  # the reference mix when a project expects none

Mix = dict[str, float]  # model -> share of non-fallback attempts


def psi(actual: Mix, expected: Mix) -> float | None:
    """Population stability index of two model mixes, each share floored at 0.0001."""
    models = set(actual) | set(expected)
    if not models:
        return None
    total = 0.0
    for model in models:
        a = max(actual.get(model, 0.0), PSI_FLOOR)
        e = max(expected.get(model, 0.0), PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return round(total, 6)


def psi_status(value: float | None) -> str | None:
    """ "stable" below 0.1, "moderate" up to 0.25, "drifted" above; None without a PSI."""
    if value is None:
        return None
    return "stable" if value < 0.1 else "moderate" if value <= 0.25 else "drifted"


def model_mix(rows: Iterable[Totals]) -> Mix:
    """Each model's share of the rows' non-fallback attempts (models without any left out)."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["model"]] = totals.get(row["model"], 0) + row["nonfallback_attempts"]
    count = sum(totals.values())
    return {model: value / count for model, value in totals.items() if value} if count else {}


def _trailing(window: Window) -> Window:
    return Window(window.start - TRAILING_REFERENCE, window.start)


def _mix_shares(actual: Mix, expected: Mix) -> tuple[MixShare, ...]:
    return tuple(
        MixShare(
            model=model,
            share=round(actual.get(model, 0.0), 6),
            expected_share=round(expected.get(model, 0.0), 6),
        )
        for model in sorted(set(actual) | set(expected))
    )


def _project_drift(query: MetricsQuery, project: Project) -> Drift:
    """One project's drift over the query's window (its model filter left out)."""
    scoped = query.unfiltered_by_model(projects=(project,))
    rows = rollup_totals(ATTEMPTS, scoped, ("model",), sketches=())
    actual = model_mix(rows)
    if project.expected_shares:
        expected, reference = dict(project.expected_shares), "expected_shares"
    else:
        trailing = _trailing(query.window)
        read = rollup_totals(ATTEMPTS, scoped, ("model",), window=trailing, sketches=())
        expected, reference = model_mix(read), "trailing_7_days"
    value = psi(actual, expected) if actual and expected else None
    totals = totals_sum(ATTEMPTS, rows)
    banded = bool(complexity_bands(project_id=project.pk))
    return Drift(
        project=project.name,
        psi=value,
        status=psi_status(value),
        reference=reference,
        conformance=rate(totals["conforming_attempts"], totals["nonfallback_attempts"])
        if banded
        else None,
        nonfallback_attempts=int(totals["nonfallback_attempts"]),
        mix=_mix_shares(actual, expected),
    )


def metrics_drift(query: MetricsQuery) -> list[Drift]:
    """Per project: PSI of the model mix against the expected one, and band conformance."""
    return [_project_drift(query, project) for project in query.projects]


# --- Over time ----------------------------------------------------------------------------


def _reference_mixes(query: MetricsQuery) -> dict[int, Mix]:
    """Each project's reference mix for the query's window, in one read at most: the
    expected shares, or the trailing 7 days' mix of the projects that expect none."""
    references = {
        project.pk: dict(project.expected_shares)
        for project in query.projects
        if project.expected_shares
    }
    unexpected = tuple(project for project in query.projects if not project.expected_shares)
    if unexpected:
        trailing = query.unfiltered_by_model(window=_trailing(query.window), projects=unexpected)
        rows = rollup_totals(ATTEMPTS, trailing, ("project_id", "model"), sketches=())
        for project in unexpected:
            references[project.pk] = model_mix(
                row for row in rows if row["project_id"] == project.pk
            )
    return references


def metrics_drift_timeseries(query: MetricsQuery, *, interval: str) -> list[DriftPoint]:
    """Per project and interval: PSI of that interval's model mix against the reference mix
    `metrics_drift` uses for the window, and band conformance (None without bands); oldest
    first. Three reads whatever the number of projects or intervals."""
    scoped = query.unfiltered_by_model()  # as metrics_drift reads it
    rows = rollup_totals(ATTEMPTS, scoped, ("project_id", "model"), interval=interval, sketches=())
    references = _reference_mixes(query)
    banded = set(
        ComplexityBand.objects.filter(project_id__in=query.project_ids).values_list(
            "project_id", flat=True
        )
    )
    buckets: dict[tuple[datetime, int], list[Totals]] = {}
    for row in rows:
        buckets.setdefault((row["time"], row["project_id"]), []).append(row)
    names = {project.pk: project.name for project in query.projects}
    points = []
    for (moment, project_id), group in sorted(buckets.items(), key=lambda item: item[0]):
        actual, expected = model_mix(group), references[project_id]
        nonfallback = sum(row["nonfallback_attempts"] for row in group)
        conforming = sum(row["conforming_attempts"] for row in group)
        value = psi(actual, expected) if actual and expected else None
        points.append(
            DriftPoint(
                time=moment.astimezone(UTC),
                project=names[project_id],
                psi=value,
                status=psi_status(value),
                conformance=rate(conforming, nonfallback) if project_id in banded else None,
                nonfallback_attempts=int(nonfallback),
            )
        )
    return points

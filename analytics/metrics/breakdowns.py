"""Figures broken down by model, by project, service or model (spend), by enforcement layer
and by policy, and each project's health: the tables of the metrics API, the dashboard and the
digest."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from analytics.metrics.query import (
    MetricsQuery,
    Totals,
    checks_cost,
    cost_per_1k,
    latency,
    money,
    rate,
    rollup_totals,
    service_names,
)
from analytics.metrics.results import (
    ALL_PERCENTILES,
    CHECK_PERCENTILES,
    LayerRow,
    ModelRow,
    PolicyRow,
    ProjectHealth,
    SpendRow,
)
from analytics.rollups.facts import LAYER_ORDER as LAYER_ORDER  # for the pages
from analytics.rollups.families import ATTEMPTS, LAYERS, REQUESTS
from analytics.rollups.sketch import sketch_merge

SPEND_GROUPS = {"project": "project_id", "service": "service_id", "model": "model"}
NO_ATTEMPTS: Totals = {"attempts": 0, "cost_usd": 0, "unpriced_attempts": 0}
NO_CHECKS: Totals = {"checks": 0, "blocks": 0, "modifies": 0, "check_latency_sketch": None}
POLICY_COUNTS = ("checks", "blocks", "modifies", "flags", "false_positives")


def metrics_models(query: MetricsQuery) -> list[ModelRow]:
    """A row per model: attempts, share, cost, latency percentiles, error rate."""
    rows = rollup_totals(ATTEMPTS, query, ("model", "provider"), sketches=("latency_sketch",))
    total = sum(row["attempts"] for row in rows)
    return [
        ModelRow(
            model=row["model"],
            provider=row["provider"],
            attempts=int(row["attempts"]),
            share=rate(row["attempts"], total),
            cost_usd=money(row["cost_usd"]),
            unpriced_attempts=int(row["unpriced_attempts"]),
            latency_ms=latency(
                row["latency_sketch"], row["latency_sum_ms"], row["attempts"], ALL_PERCENTILES
            ),
            error_rate=rate(row["errors"], row["attempts"]),
        )
        for row in sorted(rows, key=lambda row: (-row["attempts"], row["model"]))
    ]


def _spend_labels(query: MetricsQuery, by: str) -> Callable[[Any], str]:
    """How a group's key is shown: project and service names (services of the same name in
    several projects are one row, as the `service` filter takes them), models as they are."""
    if by == "project":
        projects = {project.pk: project.name for project in query.projects}
        return projects.__getitem__
    if by == "service":
        names = service_names(query)
        return lambda pk: names.get(pk, str(pk))
    return str


def _spend_totals(query: MetricsQuery, by: str) -> tuple[dict[str, Totals], dict[str, int]]:
    """Attempts, cost and unpriced attempts, and requests, per shown name of the group."""
    column, label = SPEND_GROUPS[by], _spend_labels(query, by)
    attempts: dict[str, Totals] = {}
    for row in rollup_totals(ATTEMPTS, query, (column,), sketches=()):
        totals = attempts.setdefault(label(row[column]), dict(NO_ATTEMPTS))
        for name in NO_ATTEMPTS:
            totals[name] += int(row[name])
    requests: dict[str, int] = {}
    for row in rollup_totals(REQUESTS, query, (column,), sketches=()):
        key = label(row[column])
        requests[key] = requests.get(key, 0) + int(row["requests"])
    return attempts, requests


def metrics_spend(query: MetricsQuery, *, by: str) -> list[SpendRow]:
    """Spend per project, service or model, most expensive first; each row holds the summary's
    attempts, requests, cost, cost per 1,000 requests and unpriced attempts for the query
    filtered to that project, service or model (a request counts for the model of its first
    attempt)."""
    attempts, requests = _spend_totals(query, by)
    keys = (attempts.keys() | requests.keys()) - {""}  # a request stopped before any attempt
    ordered = sorted(keys, key=lambda key: (-attempts.get(key, NO_ATTEMPTS)["cost_usd"], key))
    answer = []
    for key in ordered:
        totals = attempts.get(key, NO_ATTEMPTS)
        answer.append(
            SpendRow(
                name=key,
                attempts=totals["attempts"],
                requests=requests.get(key, 0),
                cost_usd=money(totals["cost_usd"]),
                cost_per_1k_requests_usd=cost_per_1k(totals["cost_usd"], requests.get(key, 0)),
                unpriced_attempts=totals["unpriced_attempts"],
            )
        )
    return answer


def metrics_layers(query: MetricsQuery) -> list[LayerRow]:
    """A row per enforcement layer, in the order requests meet them."""
    rows = {row["layer"]: row for row in rollup_totals(LAYERS, query, ("layer",))}
    answer = []
    for layer in LAYER_ORDER:
        row = rows.get(layer, NO_CHECKS)
        answer.append(
            LayerRow(
                layer=layer,
                checks=int(row["checks"]),
                blocks=int(row["blocks"]),
                modifies=int(row["modifies"]),
                interception_rate=rate(row["blocks"] + row["modifies"], row["checks"]),
                check_latency_ms=latency(row["check_latency_sketch"], None, 0, CHECK_PERCENTILES),
            )
        )
    return answer


def layers_checked(query: MetricsQuery) -> int:
    """How many distinct enforcement layers had checks in the window: one grouped read of
    the layer rollups without their sketches (groups without checks are left out)."""
    return len(rollup_totals(LAYERS, query, ("layer",), sketches=()))


NO_HEALTH_ATTEMPTS: Totals = {
    "attempts": 0,
    "errors": 0,
    "cost_usd": 0,
    "latency_sketch": None,
    "latency_sum_ms": 0,
}
NO_HEALTH_REQUESTS: Totals = {
    "requests": 0,
    "served": 0,
    "with_attempt": 0,
    "intercepted": 0,
    "escaped": 0,
}


def metrics_project_health(query: MetricsQuery) -> list[ProjectHealth]:
    """A row per project of the query, by name (those without traffic too), with the summary's
    health figures for the query filtered to that project: two grouped reads whatever the
    number of projects."""
    attempts = {
        row["project_id"]: row
        for row in rollup_totals(ATTEMPTS, query, ("project_id",), sketches=("latency_sketch",))
    }
    requests = {
        row["project_id"]: row
        for row in rollup_totals(REQUESTS, query, ("project_id",), sketches=())
    }
    answer = []
    for project in sorted(query.projects, key=lambda project: project.name):
        tried = attempts.get(project.pk, NO_HEALTH_ATTEMPTS)
        asked = requests.get(project.pk, NO_HEALTH_REQUESTS)
        answer.append(
            ProjectHealth(
                project=project.name,
                requests=int(asked["requests"]),
                attempts=int(tried["attempts"]),
                availability=rate(asked["served"], asked["with_attempt"]),
                latency_ms=latency(
                    tried["latency_sketch"],
                    tried["latency_sum_ms"],
                    tried["attempts"],
                    ALL_PERCENTILES,
                ),
                error_rate=rate(tried["errors"], tried["attempts"]),
                interception_rate=rate(asked["intercepted"], asked["requests"]),
                violation_rate=rate(asked["escaped"], asked["requests"]),
                escaped_violations=int(asked["escaped"]),
                cost_usd=money(tried["cost_usd"]),
            )
        )
    return answer


def metrics_policies(query: MetricsQuery) -> list[PolicyRow]:
    """A row per policy (a name shared by several projects or layers is one row), the most
    intercepting first. A policy's checks are the events that name it at its own layers: the
    reviews that name a pre-delivery policy overturn it (its false positives) and are not its
    checks, so they neither dilute its interception rate nor add to its cost."""
    groups: dict[str, list[Totals]] = {}
    for row in rollup_totals(
        LAYERS, query, ("project_id", "policy", "layer"), sketches=("check_latency_sketch",)
    ):
        groups.setdefault(row["policy"], []).append(row)
    answer = [_policy_row(query, policy, rows) for policy, rows in groups.items()]
    return sorted(
        answer,
        key=lambda row: (
            row.interception_rate is None,
            -(row.interception_rate or 0.0),
            -row.checks,
            row.policy,
        ),
    )


def policy_own_rows(rows: Iterable[Totals]) -> list[Totals]:
    """Of rows carrying `policy` and `layer`, those of each policy's own checks: a policy
    checking before delivery is its rows at those layers (the reviews naming it overturn it:
    its false positives); a policy only ever seen at review is a review policy, all its rows."""
    rows = list(rows)
    pre_delivery = {row["policy"] for row in rows if row["layer"] != "review"}
    return [row for row in rows if row["layer"] != "review" or row["policy"] not in pre_delivery]


def _policy_row(query: MetricsQuery, policy: str, rows: list[Totals]) -> PolicyRow:
    own = policy_own_rows(rows)
    totals = {name: sum(int(row[name]) for row in own) for name in POLICY_COUNTS}
    totals["false_positives"] = sum(int(row["false_positives"]) for row in rows)
    return PolicyRow(
        policy=policy,
        layer=_policy_layer(rows),
        checks=totals["checks"],
        blocks=totals["blocks"],
        modifies=totals["modifies"],
        flags=totals["flags"],
        interception_rate=rate(totals["blocks"] + totals["modifies"], totals["checks"]),
        false_positives=totals["false_positives"],
        check_latency_ms=latency(
            sketch_merge(row["check_latency_sketch"] for row in own), None, 0, CHECK_PERCENTILES
        ),
        check_cost_usd=money(checks_cost(own, query.projects_by_id)),
    )


def _policy_layer(rows: list[Totals]) -> str:
    """The layer where the policy checks most (the review events that name a pre-delivery
    policy overturn it; they do not make it a review policy); ties go to the earlier layer."""
    checks: dict[str, int] = {}
    for row in rows:
        checks[row["layer"]] = checks.get(row["layer"], 0) + int(row["checks"])
    own = {layer: count for layer, count in checks.items() if layer != "review"} or checks
    return min(own, key=lambda layer: (-own[layer], _layer_rank(layer)))


def _layer_rank(layer: str) -> int:
    return LAYER_ORDER.index(layer) if layer in LAYER_ORDER else len(LAYER_ORDER)

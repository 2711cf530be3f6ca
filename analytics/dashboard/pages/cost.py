"""Cost and budgets (finance): spend by model, service and project, cost per 1,000 requests,
budget burn with its forecast, savings, enforcement cost, ROI and the savings multiple."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils.safestring import SafeString

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Figure, count, figure
from analytics.dashboard.series import partial_buckets, stacked
from analytics.formatting import BUDGET_STATUS_LABELS, csv_cell, usd
from analytics.metrics.breakdowns import metrics_spend
from analytics.metrics.budgets import BudgetStatus, budgets_for, scope_query
from analytics.metrics.query import money
from analytics.metrics.results import SpendRow, Summary
from analytics.metrics.summary import metrics_summary
from analytics.metrics.timeseries import metrics_timeseries
from analytics.metrics.window import Window, floor_to
from governance.models import Budget, BudgetPeriod

SPEND_GROUPS = ("model", "service", "project")
BURN_CHARTS = 6  # the budgets closest to their amount; the table lists them all
CSV_COLUMNS = (
    "group",
    "name",
    "attempts",
    "requests",
    "cost_usd",
    "cost_per_1k_requests_usd",
    "unpriced_attempts",
)


def cost_figures(summary: Summary) -> list[Figure]:
    """The cost page's headline figures: spend, tokens, savings, enforcement cost, ROI."""
    return [*spend_figures(summary), *return_figures(summary)]


def spend_figures(summary: Summary) -> list[Figure]:
    """What was spent: money, cost per 1,000 requests, volume, unpriced attempts, tokens."""
    return [
        figure("cost_usd", "Spend", "money", summary.cost_usd),
        figure(
            "cost_per_1k_requests_usd",
            "Cost per 1,000 requests",
            "money",
            summary.cost_per_1k_requests_usd,
        ),
        figure("requests", "Requests", "count", summary.requests, unit="requests"),
        figure(
            "unpriced_attempts",
            "Unpriced attempts",
            "count",
            summary.unpriced_attempts,
            unit="attempts",
            note="models without a price: not in any money figure",
        ),
        figure("input_tokens", "Input tokens", "count", summary.input_tokens, unit="tokens"),
        figure("output_tokens", "Output tokens", "count", summary.output_tokens, unit="tokens"),
    ]


def return_figures(summary: Summary) -> list[Figure]:
    """What routing and enforcement returned: baseline, savings, enforcement cost, ratios."""
    return [
        figure(
            "baseline_cost_usd",
            "Baseline cost",
            "money",
            summary.baseline_cost_usd,
            note="the same tokens on each project's baseline model",
        ),
        figure(
            "routing_savings_usd",
            "Routing savings",
            "money",
            summary.routing_savings_usd,
            note="baseline cost - actual cost",
        ),
        figure(
            "error_cost_savings_usd",
            "Error-cost savings",
            "money",
            summary.error_cost_savings_usd,
            note="violations caught before delivery x incident cost",
        ),
        figure(
            "enforcement_cost_usd",
            "Enforcement cost",
            "money",
            summary.enforcement_cost_usd,
            note="interceptions and corrections",
        ),
        figure(
            "roi",
            "ROI",
            "roi",
            summary.roi,
            note="(routing + error-cost savings - enforcement cost) ÷ enforcement cost",
        ),
        figure(
            "savings_multiple",
            "Savings multiple",
            "multiple",
            summary.savings_multiple,
            note="(routing + error-cost savings) ÷ enforcement cost",
        ),
    ]


def spend_tables(selection: Selection) -> dict[str, list[SpendRow]]:
    """The spend rows per model, service and project."""
    return {by: metrics_spend(selection.query, by=by) for by in SPEND_GROUPS}


def spend_csv(tables: dict[str, list[SpendRow]]) -> str:
    """The spend tables as one CSV: a `group` column says which table a row belongs to.
    Names come from ingest, so none may reach a spreadsheet as a formula."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    for by in SPEND_GROUPS:
        for row in tables[by]:
            writer.writerow(
                csv_cell(value)
                for value in (
                    by,
                    row.name,
                    row.attempts,
                    row.requests,
                    row.cost_usd,
                    "" if row.cost_per_1k_requests_usd is None else row.cost_per_1k_requests_usd,
                    row.unpriced_attempts,
                )
            )
    return output.getvalue()


# --- Budgets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    """A budget's row on the page: its status, with money to six places as the budgets API
    shows it, and its burn chart when it is among the closest to their amount."""

    burn: BudgetStatus
    chart: SafeString | None = None

    @property
    def budget(self) -> Budget:
        return self.burn.budget

    @property
    def amount_usd(self) -> Decimal:
        return money(self.burn.budget.amount_usd)

    @property
    def spent_usd(self) -> Decimal:
        return money(self.burn.spent)

    @property
    def run_rate_usd_per_day(self) -> Decimal:
        return money(self.burn.run_rate_per_day)

    @property
    def forecast_usd(self) -> Decimal:
        return money(self.burn.forecast)

    @property
    def percent(self) -> float:
        return round(self.burn.percent, 4)

    @property
    def status_label(self) -> str:
        return BUDGET_STATUS_LABELS.get(self.burn.status, self.burn.status)


def budget_lines(selection: Selection, *, organization_id: int, now: datetime) -> list[BudgetLine]:
    """The active budgets (only the filtered project's when a project is picked), the
    closest to their amount with a burn chart."""
    query = selection.query
    project_ids = tuple(query.project_ids) if "project" in query.applied else None
    lines = [
        BudgetLine(burn)
        for burn in budgets_for(organization_id=organization_id, project_ids=project_ids, now=now)
    ]
    closest = sorted(range(len(lines)), key=lambda index: -lines[index].percent)[:BURN_CHARTS]
    return [
        BudgetLine(line.burn, burn_chart(line, now)) if index in closest else line
        for index, line in enumerate(lines)
    ]


def budget_chart_title(line: BudgetLine) -> str:
    """Names the budget and whose it is: two projects' budgets may share a name."""
    budget = line.budget
    owner = budget.project.name if budget.project is not None else "the organization"
    scope = budget.scope_label
    narrower = "" if scope in ("project", "organization") else f", {scope}"
    return (
        f"{owner}{narrower} · budget “{budget.name}”: spend this {budget.period} "
        f"against {usd(line.amount_usd)}"
    )


def burn_chart(line: BudgetLine, now: datetime) -> SafeString:
    """Cumulative spend of the period so far, the forecast to its end, and the amount."""
    budget, start, end = line.budget, line.burn.period_start, line.burn.period_end
    interval, step = ("hour", timedelta(hours=1))
    if budget.period != BudgetPeriod.DAY:
        interval, step = ("day", timedelta(days=1))
    spent_by_time = {
        point.time: point.value
        for point in metrics_timeseries(
            scope_query(budget, Window.of(start, now)),
            metric="cost_usd",
            interval=interval,
            group_by=None,
        )
        if isinstance(point.value, Decimal)  # cost points are money
    }
    total, points = Decimal(0), [(start, 0.0)]
    moment = start
    last = floor_to(now, "m")
    while moment < last:
        total += spent_by_time.get(moment, Decimal(0))
        moment = min(moment + step, last)
        points.append((moment, float(total)))
    forecast = [(last, float(line.spent_usd)), (end, float(line.forecast_usd))]
    return charts.line_chart(
        [
            charts.Series("Spent so far", points),
            charts.Series("Forecast", forecast, dashed=True),
        ],
        title=budget_chart_title(line),
        y_label="spend (USD)",
        fmt=usd,
        start=start,
        end=end,
        thresholds=[charts.Threshold(float(line.amount_usd), "Budget amount")],
    )


# --- The page -----------------------------------------------------------------------------


def cost_context(selection: Selection, *, organization_id: int, now: datetime) -> dict[str, Any]:
    """The cost page: figures, spend tables with their charts, budgets, spend over time."""
    summary = metrics_summary(selection.query)
    tables = spend_tables(selection)
    budgets = budget_lines(selection, organization_id=organization_id, now=now)
    empty = not summary.attempts and not summary.requests
    spend_charts = {
        by: charts.hbar_chart(
            [(row.name, float(row.cost_usd)) for row in rows],
            title=f"Spend by {by}",
            x_label="spend (USD)",
            fmt=usd,
        )
        for by, rows in tables.items()
    }
    context: dict[str, Any] = {
        "empty": empty,
        "figures": cost_figures(summary),
        "tables": [
            {"by": by, "rows": rows, "chart": spend_charts[by]} for by, rows in tables.items()
        ],
        "budgets": budgets,
        "charts": [],
    }
    if not empty:
        times, bars = stacked(selection, "cost_usd", group_by="model")
        context["charts"] = [
            charts.stacked_time_bars(
                times,
                bars,
                title="Spend per interval by model",
                y_label="spend (USD)",
                fmt=usd,
                start=times[0],
                end=selection.window.end,
                step=selection.step,
                partial=partial_buckets(selection),
            )
        ]
    context["unpriced_note"] = (
        f"{count(summary.unpriced_attempts)} attempts on models without a price are counted "
        "but left out of every money figure."
        if summary.unpriced_attempts
        else ""
    )
    return context

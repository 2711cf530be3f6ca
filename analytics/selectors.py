"""The analytics app's reads, for `tollgate/` (the demo, health): metric queries with typed
results, budget status and open alerts, without reaching into the rooms behind them."""

from analytics.metrics.budgets import BudgetStatus, budget_status
from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import Summary
from analytics.metrics.summary import metrics_summary
from analytics.metrics.window import Window

__all__ = [
    "BudgetStatus",
    "MetricsQuery",
    "Summary",
    "Window",
    "budget_status",
    "metrics_summary",
]

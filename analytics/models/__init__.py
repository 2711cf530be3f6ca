"""The analytics tables, one module per concept; every model is importable from here.

- `rollups`: watermarks, request facts, the minute/hour/day rollups and reconciliation's
  mismatches.
- `alerts`: alerts, their evaluations and budget notices.
- `delivery`: the notification outbox.
- `repricing`: back-dated price changes being recomputed.
"""

from analytics.models.alerts import Alert, AlertEvaluation, AlertState, BudgetNotice
from analytics.models.delivery import Notification, NotificationState
from analytics.models.repricing import Repricing, RepricingState
from analytics.models.rollups import (
    AttemptRollup,
    Grain,
    LayerRollup,
    RequestFact,
    RequestRollup,
    Rollup,
    RollupMismatch,
    VersionRollup,
    Watermark,
)

__all__ = [
    "Alert",
    "AlertEvaluation",
    "AlertState",
    "AttemptRollup",
    "BudgetNotice",
    "Grain",
    "LayerRollup",
    "Notification",
    "NotificationState",
    "Repricing",
    "RepricingState",
    "RequestFact",
    "RequestRollup",
    "Rollup",
    "RollupMismatch",
    "VersionRollup",
    "Watermark",
]

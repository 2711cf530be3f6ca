"""The analytics app's writes, for its tasks and commands and for `tollgate/`: one import
point, so the rooms behind it (rollups, repricing, alerts, delivery) can move freely.

Each entry is idempotent and safe to run at any time: the jobs take their own locks and a run
that finds its lock taken does nothing.
"""

from analytics.alerts.actions import alert_acknowledge, alert_silence
from analytics.alerts.evaluation import alerts_evaluate
from analytics.alerts.states import EvaluationRun
from analytics.delivery.digest import DigestRun, finance_digest_send, organization_digest_send
from analytics.delivery.outbox import SendRun, notifications_resend, notifications_send
from analytics.repricing.job import RepricingRun, repricings_advance
from analytics.rollups.job import RollupRun, rollups_advance
from analytics.rollups.rebuild import RebuildRun, rollups_rebuild
from analytics.rollups.reconcile import ReconcileRun, rollups_reconcile

__all__ = [
    "DigestRun",
    "EvaluationRun",
    "RebuildRun",
    "ReconcileRun",
    "RepricingRun",
    "RollupRun",
    "SendRun",
    "alert_acknowledge",
    "alert_silence",
    "alerts_evaluate",
    "finance_digest_send",
    "notifications_resend",
    "notifications_send",
    "organization_digest_send",
    "repricings_advance",
    "rollups_advance",
    "rollups_rebuild",
    "rollups_reconcile",
]

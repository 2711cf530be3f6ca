"""Migration 0006 turns alert rules' float thresholds into numeric(20, 8), in the rules and in
their history, keeping every value; backwards, the same floats come back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

FLOAT_SCHEMA = [("governance", "0005_alert_kind_rollup_mismatch")]
DECIMAL_SCHEMA = [("governance", "0006_alert_rule_threshold_decimal")]
# (kind, the float stored before, the Decimal after, the float after going back)
THRESHOLDS = [
    ("over_interception", 0.01, Decimal("0.01"), 0.01),
    ("error_rate", 0.1 + 0.2, Decimal("0.3"), 0.3),  # float noise does not survive
    ("cost_overrun", 100.12345678, Decimal("100.12345678"), 100.12345678),
    ("cost_overrun", 1234567.89, Decimal("1234567.89"), 1234567.89),
    ("latency_slo", 1000.0, Decimal("1000"), 1000.0),
    ("routing_drift", 0.25, Decimal("0.25"), 0.25),
    ("rollup_mismatch", 0.0, Decimal("0"), 0.0),
    ("model_failure", 0.123456789, Decimal("0.12345679"), 0.12345679),  # eight places kept
    ("error_rate", None, None, None),  # blank: the kind's default
]


def _migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)


def _latest() -> list:
    """Every app's latest migration: where the tests after this one expect the schema."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _thresholds(table: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT threshold FROM {table} ORDER BY name")  # noqa: S608 (a constant)
        return [row[0] for row in cursor.fetchall()]


def test_thresholds_become_decimals_and_back_keeping_their_values(project):
    _migrate(FLOAT_SCHEMA)
    try:
        apps = MigrationExecutor(connection).loader.project_state(FLOAT_SCHEMA).apps
        rule_model = apps.get_model("governance", "AlertRule")
        history_model = apps.get_model("governance", "HistoricalAlertRule")
        for position, (kind, before, _, _) in enumerate(THRESHOLDS):
            fields = {"name": f"rule-{position}", "kind": kind, "threshold": before}
            rule = rule_model.objects.create(project_id=project.pk, **fields)
            history_model.objects.create(
                id=rule.pk,
                project_id=project.pk,
                history_date=timezone.now(),
                history_type="+",
                **fields,
            )
        assert _thresholds("governance_alertrule") == [row[1] for row in THRESHOLDS]

        _migrate(DECIMAL_SCHEMA)
        for table in ("governance_alertrule", "governance_historicalalertrule"):
            after = _thresholds(table)
            assert after == [row[2] for row in THRESHOLDS], table
            assert all(isinstance(value, Decimal) for value in after if value is not None)

        _migrate(FLOAT_SCHEMA)
        for table in ("governance_alertrule", "governance_historicalalertrule"):
            assert _thresholds(table) == [row[3] for row in THRESHOLDS], table
    finally:
        _migrate(_latest())  # not 0006: later migrations would stay unapplied

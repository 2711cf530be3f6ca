"""Raw event tables: one row per routing decision and one per policy check.

The tables are partitioned by month on `timestamp` (PostgreSQL declarative partitioning), which
Django cannot declare, so migration 0001 creates them in SQL and these models are unmanaged:
the ORM reads them, the ingest path writes them with COPY. The dedup key is
`(project_id, event_id, timestamp)` (a partitioned table's unique key must hold the partition
key). `seq` is a shared, increasing ingest sequence and `ingest_xid` the writing transaction, so
analytics can consume new events in commit-safe order.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class RawEvent(models.Model):
    """Columns both event types share."""

    seq = models.BigIntegerField(primary_key=True)
    project_id = models.BigIntegerField()
    service_id = models.BigIntegerField()
    event_id = models.UUIDField()
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    request_id = models.CharField(max_length=128)
    environment = models.CharField(max_length=64)
    attributes = models.JSONField(null=True)

    class Meta:
        abstract = True


class RoutingEvent(RawEvent):
    """One model call chosen by a router (an *attempt*)."""

    model = models.CharField(max_length=100)
    provider = models.CharField(max_length=100)
    mode = models.CharField(max_length=20)
    user_tier = models.CharField(max_length=10)
    input_tokens = models.IntegerField()
    output_tokens = models.IntegerField()
    tool_calls = models.IntegerField()
    cache_read_tokens = models.IntegerField()
    cache_write_tokens = models.IntegerField()
    reasoning_tokens = models.IntegerField()
    complexity_score = models.FloatField()
    complexity_computed = models.BooleanField()
    latency_ms = models.FloatField()
    routing_latency_ms = models.FloatField(null=True)
    status = models.CharField(max_length=16)
    error_type = models.CharField(max_length=200)
    fallback_from = models.CharField(max_length=100)
    route_reason = models.CharField(max_length=64)
    reported_cost_usd = models.DecimalField(max_digits=20, decimal_places=8, null=True)
    priced_cost_usd = models.DecimalField(max_digits=20, decimal_places=8, null=True)
    price_id = models.BigIntegerField(null=True)
    router_version = models.CharField(max_length=64, null=True)  # noqa: DJ001 (absent != "")

    class Meta:
        managed = False
        db_table = "ingestion_routingevent"

    def __str__(self) -> str:
        return f"routing {self.event_id} {self.model} {self.status}"

    @property
    def cost_usd(self) -> Decimal | None:
        """The reported cost when there is one, else the priced cost (None when unpriced)."""
        return (
            self.reported_cost_usd if self.reported_cost_usd is not None else self.priced_cost_usd
        )


class EnforcementEvent(RawEvent):
    """One policy check at one of the five layers of defence."""

    layer = models.CharField(max_length=16)
    policy = models.CharField(max_length=100)
    verdict = models.CharField(max_length=8)
    # Null means "none found", which the schema distinguishes from any category name.
    violation = models.CharField(max_length=100, null=True)  # noqa: DJ001
    severity = models.CharField(max_length=8, null=True)  # noqa: DJ001
    false_positive = models.BooleanField()
    check_latency_ms = models.FloatField()
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, null=True)  # the check's own
    # The request's mode when no attempt gives it (a request blocked before any model call).
    mode = models.CharField(max_length=20, null=True)  # noqa: DJ001
    policy_version = models.CharField(max_length=64, null=True)  # noqa: DJ001

    class Meta:
        managed = False
        db_table = "ingestion_enforcementevent"

    def __str__(self) -> str:
        return f"enforcement {self.event_id} {self.layer}/{self.policy} {self.verdict}"

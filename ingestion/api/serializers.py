"""OpenAPI description of the ingest API.

These serializers document the wire format for drf-spectacular; the hot path does not run them
(see `ingestion.validation`). Their constraints mirror `ingestion.schema` so the published
schema tells the truth about what is accepted.
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from ingestion import schema


def _cost_usd(help_text: str) -> serializers.DecimalField:
    """An optional reported cost in USD (>= 0, eight places), as both event types take it."""
    return serializers.DecimalField(
        max_digits=18,
        decimal_places=8,
        min_value=0,
        required=False,
        allow_null=True,
        coerce_to_string=True,
        help_text=help_text,
    )


def _version(help_text: str) -> serializers.CharField:
    """An optional version string (1..64), the rollouts' input."""
    return serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=64,
        help_text=f"{help_text} Feeds rollouts.",
    )


class _EventBase(serializers.Serializer):
    event_id = serializers.UUIDField(help_text="Client-generated; the dedup key within a project.")
    timestamp = serializers.DateTimeField(
        help_text="RFC 3339 with offset; at most 5 minutes ahead, within the retention window."
    )
    request_id = serializers.CharField(min_length=1, max_length=128)
    environment = serializers.CharField(
        required=False, min_length=1, max_length=64, default="production"
    )
    attributes = serializers.DictField(
        required=False, allow_null=True, help_text="Free-form, at most 8 KiB serialized."
    )


class RoutingEventSerializer(_EventBase):
    type = serializers.ChoiceField(choices=["routing"])
    model = serializers.CharField(min_length=1, max_length=100)
    provider = serializers.CharField(required=False, allow_null=True, max_length=100)
    mode = serializers.ChoiceField(choices=schema.MODES)
    user_tier = serializers.ChoiceField(choices=schema.USER_TIERS, required=False)
    input_tokens = serializers.IntegerField(min_value=0, max_value=schema.MAX_INT)
    output_tokens = serializers.IntegerField(min_value=0, max_value=schema.MAX_INT)
    tool_calls = serializers.IntegerField(min_value=0, max_value=schema.MAX_INT, required=False)
    complexity_score = serializers.FloatField(
        min_value=0, max_value=100, required=False, allow_null=True
    )
    latency_ms = serializers.FloatField(min_value=0, max_value=schema.MAX_NUMBER)
    routing_latency_ms = serializers.FloatField(
        min_value=0, max_value=schema.MAX_NUMBER, required=False, allow_null=True
    )
    status = serializers.ChoiceField(choices=schema.STATUSES)
    error_type = serializers.CharField(required=False, allow_null=True, max_length=200)
    fallback_from = serializers.CharField(required=False, allow_null=True, max_length=100)
    cost_usd = _cost_usd("Reported cost; priced from the matrix when absent.")
    cache_read_tokens = serializers.IntegerField(
        min_value=0, max_value=schema.MAX_INT, required=False
    )
    cache_write_tokens = serializers.IntegerField(
        min_value=0, max_value=schema.MAX_INT, required=False
    )
    reasoning_tokens = serializers.IntegerField(
        min_value=0, max_value=schema.MAX_INT, required=False
    )
    route_reason = serializers.CharField(required=False, allow_null=True, max_length=64)
    router_version = _version("The routing policy's version (a config hash or release tag).")


class EnforcementEventSerializer(_EventBase):
    type = serializers.ChoiceField(choices=["enforcement"])
    layer = serializers.ChoiceField(choices=schema.LAYERS)
    policy = serializers.CharField(min_length=1, max_length=100)
    verdict = serializers.ChoiceField(choices=schema.VERDICTS)
    violation = serializers.CharField(required=False, allow_null=True, max_length=100)
    severity = serializers.ChoiceField(choices=schema.SEVERITIES, required=False, allow_null=True)
    false_positive = serializers.BooleanField(required=False)
    check_latency_ms = serializers.FloatField(min_value=0, max_value=schema.MAX_NUMBER)
    cost_usd = _cost_usd("What the check itself cost; the project's check cost when absent.")
    mode = serializers.ChoiceField(
        choices=schema.MODES,
        required=False,
        allow_null=True,
        help_text="The request's mode when it has no attempt (e.g. blocked before any call).",
    )
    policy_version = _version("The policy's version.")


EventSerializer = PolymorphicProxySerializer(
    component_name="Event",
    serializers={"routing": RoutingEventSerializer, "enforcement": EnforcementEventSerializer},
    resource_type_field_name="type",
)


class IngestBatchSerializer(serializers.Serializer):
    batch = serializers.ListField(child=EventSerializer, min_length=1, max_length=1000)


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch.")
    event_id = serializers.CharField(allow_null=True)
    field = serializers.CharField(help_text="The field at fault (`event` for a non-object).")
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(help_text="Events already stored (replays are safe).")
    rejected = serializers.IntegerField(help_text="Events refused; each is named in `errors`.")
    # SerializerMetaclass moves declared fields into _declared_fields, so this field does not
    # replace Serializer.errors at run time; the stubs read it as an override.
    errors = EventErrorSerializer(many=True)  # type: ignore[assignment]

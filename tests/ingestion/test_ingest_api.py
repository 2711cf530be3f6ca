"""The ingest API's contract: every answer code, dedup, isolation, pricing at ingest."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db.utils import OperationalError
from django.utils import timezone

from governance.models import ApiKey, ModelPrice
from governance.services import api_key_revoke
from ingestion.models import EnforcementEvent, RoutingEvent
from tests.conftest import enforcement_event, routing_event
from tests.governance.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def stored_ids() -> set[str]:
    routing = RoutingEvent.objects.values_list("event_id", flat=True)
    enforcement = EnforcementEvent.objects.values_list("event_id", flat=True)
    return {str(event_id) for event_id in [*routing, *enforcement]}


class TestAccepted:
    def test_all_valid_answers_200_and_stores_every_event(self, post_batch, project, service):
        events = [routing_event(), enforcement_event(), routing_event(cost_usd="0.5")]

        response = post_batch(events)

        assert response.status_code == 200
        assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": 0, "errors": []}
        assert stored_ids() == {e["event_id"] for e in events}
        row = RoutingEvent.objects.get(event_id=events[0]["event_id"])
        assert (row.project_id, row.service_id) == (project.pk, service.pk)
        assert row.provider == "openai"  # taken from the matrix when absent
        assert row.user_tier == "standard" and row.environment == "production"

    def test_optional_fields_are_stored_as_sent(self, post_batch):
        event = routing_event(
            provider="azure-openai",
            user_tier="vip",
            environment="staging",
            tool_calls=3,
            routing_latency_ms=2.5,
            status="error",
            error_type="upstream_5xx",
            fallback_from="claude-opus-4.6",
            route_reason="fallback",
            router_version="router-2026.12.1",
            reasoning_tokens=100,
            attributes={"customer": "c-42", "nested": {"ok": True}},
        )
        assert post_batch([event]).status_code == 200
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        assert row.provider == "azure-openai"
        assert (row.user_tier, row.environment, row.tool_calls) == ("vip", "staging", 3)
        assert (row.status, row.error_type, row.fallback_from) == (
            "error",
            "upstream_5xx",
            "claude-opus-4.6",
        )
        assert row.routing_latency_ms == 2.5 and row.reasoning_tokens == 100
        assert row.router_version == "router-2026.12.1"
        assert row.attributes == {"customer": "c-42", "nested": {"ok": True}}

    def test_enforcement_fields_are_stored(self, post_batch):
        event = enforcement_event(
            layer="review", verdict="block", violation="pii", severity="high", false_positive=True
        )
        assert post_batch([event]).status_code == 200
        row = EnforcementEvent.objects.get(event_id=event["event_id"])
        assert (row.layer, row.verdict, row.violation, row.severity) == (
            "review",
            "block",
            "pii",
            "high",
        )
        assert row.false_positive is True and row.check_latency_ms == 4.2
        assert (row.mode, row.policy_version) == (None, None)  # both optional

    def test_enforcement_mode_and_policy_version_are_stored(self, post_batch):
        event = enforcement_event(mode="enforcement_first", policy_version="pii-v7")
        routing = routing_event()
        assert post_batch([event, routing]).status_code == 200
        row = EnforcementEvent.objects.get(event_id=event["event_id"])
        assert (row.mode, row.policy_version) == ("enforcement_first", "pii-v7")
        assert RoutingEvent.objects.get(event_id=routing["event_id"]).router_version is None

    def test_ingest_sequence_follows_posting_order(self, post_batch):
        first = routing_event()
        second, third = enforcement_event(), routing_event()
        post_batch([first])
        post_batch([second, third])
        sequence = {
            str(event_id): seq
            for model in (RoutingEvent, EnforcementEvent)
            for event_id, seq in model.objects.values_list("event_id", "seq")
        }
        assert sequence[first["event_id"]] < min(
            sequence[second["event_id"]], sequence[third["event_id"]]
        )


class TestRejected:
    def test_mixed_batch_stores_valid_events_and_names_each_bad_one(self, post_batch):
        good = [routing_event(), enforcement_event()]
        bad_tokens = routing_event(input_tokens=-1)
        bad_verdict = enforcement_event(verdict="maybe")
        events = [good[0], bad_tokens, good[1], bad_verdict, "not an event"]

        response = post_batch(events)

        assert response.status_code == 207
        body = response.json()
        assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 3)
        assert {(e["index"], e["event_id"], e["field"]) for e in body["errors"]} == {
            (1, bad_tokens["event_id"], "input_tokens"),
            (3, bad_verdict["event_id"], "verdict"),
            (4, None, "event"),
        }
        assert stored_ids() == {e["event_id"] for e in good}

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"type": "metric"}, "type"),
            ({"event_id": "not-a-uuid"}, "event_id"),
            ({"event_id": None}, "event_id"),
            ({"timestamp": "2026-01-01T00:00:00"}, "timestamp"),  # no offset
            ({"timestamp": "yesterday"}, "timestamp"),
            ({"request_id": ""}, "request_id"),
            ({"request_id": "x" * 129}, "request_id"),
            ({"model": ""}, "model"),
            ({"mode": "fastest"}, "mode"),
            ({"user_tier": "gold"}, "user_tier"),
            ({"input_tokens": 1.5}, "input_tokens"),
            ({"output_tokens": True}, "output_tokens"),
            ({"latency_ms": -0.1}, "latency_ms"),
            ({"latency_ms": "fast"}, "latency_ms"),
            ({"status": "fine"}, "status"),
            ({"complexity_score": 101}, "complexity_score"),
            ({"cost_usd": "-1"}, "cost_usd"),
            ({"cost_usd": "abc"}, "cost_usd"),
            ({"attributes": ["not", "an", "object"]}, "attributes"),
            ({"attributes": {"blob": "x" * 9000}}, "attributes"),
            ({"attributes": {"nul": "a\x00b"}}, "attributes"),
            ({"request_id": "a\x00b"}, "request_id"),
            ({"cache_read_tokens": 1000, "cache_write_tokens": 500}, "cache_read_tokens"),
            ({"reasoning_tokens": 301}, "reasoning_tokens"),
            ({"router_version": ""}, "router_version"),
            ({"router_version": "v" * 65}, "router_version"),
            ({"router_version": 3}, "router_version"),
        ],
    )
    def test_routing_field_errors_name_the_field(self, post_batch, overrides, field):
        event = routing_event(**overrides)
        response = post_batch([event, routing_event()])
        assert response.status_code == 207
        body = response.json()
        assert body["accepted"] == 1 and body["rejected"] == 1
        assert field in {error["field"] for error in body["errors"]}
        assert all(error["index"] == 0 and error["message"] for error in body["errors"])

    @pytest.mark.parametrize(
        "missing", ["mode", "input_tokens", "output_tokens", "latency_ms", "status", "model"]
    )
    def test_missing_required_routing_field(self, post_batch, missing):
        event = routing_event()
        del event[missing]
        body = post_batch([event]).json()
        assert body["errors"] == [
            {"index": 0, "event_id": event["event_id"], "field": missing, "message": "is required"}
        ]

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"layer": "firewall"}, "layer"),
            ({"policy": ""}, "policy"),
            ({"severity": "extreme"}, "severity"),
            ({"false_positive": "yes"}, "false_positive"),
            ({"check_latency_ms": None}, "check_latency_ms"),
            ({"mode": "fastest"}, "mode"),
            ({"mode": 1}, "mode"),
            ({"policy_version": ""}, "policy_version"),
            ({"policy_version": "v" * 65}, "policy_version"),
        ],
    )
    def test_enforcement_field_errors_name_the_field(self, post_batch, overrides, field):
        body = post_batch([enforcement_event(**overrides)]).json()
        assert body["rejected"] == 1
        assert [error["field"] for error in body["errors"]] == [field]

    def test_timestamp_window_is_checked_per_event(self, post_batch):
        now = timezone.now()
        future = routing_event(timestamp=(now + timedelta(minutes=6)).isoformat())
        near_future = routing_event(timestamp=(now + timedelta(minutes=4)).isoformat())
        too_old = routing_event(timestamp=(now - timedelta(days=91)).isoformat())
        old_enough = routing_event(timestamp=(now - timedelta(days=89)).isoformat())

        body = post_batch([future, near_future, too_old, old_enough]).json()

        assert body["accepted"] == 2
        assert {(e["index"], e["field"]) for e in body["errors"]} == {
            (0, "timestamp"),
            (2, "timestamp"),
        }

    def test_every_event_rejected_still_answers_207(self, post_batch):
        response = post_batch([routing_event(status="??")])
        assert response.status_code == 207
        assert response.json()["accepted"] == 0


class TestEnvelope:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b"{not json", "body"),
            (b"[]", "batch"),
            (b'{"events": []}', "batch"),
            (b'{"batch": {}}', "batch"),
            (b'{"batch": []}', "batch"),
            (b"", "body"),
        ],
    )
    def test_bad_envelope_is_400_naming_the_part(self, post_batch, body, field):
        response = post_batch(body=body)
        assert response.status_code == 400
        assert response.json()["field"] == field
        assert response.json()["detail"]

    def test_more_than_1000_events_is_413(self, post_batch):
        response = post_batch([routing_event() for _ in range(1001)])
        assert response.status_code == 413
        assert RoutingEvent.objects.count() == 0

    def test_body_over_5_mib_is_413(self, post_batch):
        body = b'{"batch": [], "padding": "' + b"x" * (5 * 1024 * 1024) + b'"}'
        assert post_batch(body=body).status_code == 413

    def test_not_json_media_type_is_415(self, post_batch):
        response = post_batch([routing_event()], content_type="text/plain")
        assert response.status_code == 415
        assert RoutingEvent.objects.count() == 0

    def test_unknown_content_encoding_is_415(self, post_batch):
        response = post_batch([routing_event()], HTTP_CONTENT_ENCODING="br")
        assert response.status_code == 415

    def test_gzip_body_is_accepted(self, post_batch):
        events = [routing_event(), enforcement_event()]
        response = post_batch(events, gzip_body=True)
        assert response.status_code == 200
        assert response.json()["accepted"] == 2

    def test_gzip_expanding_past_the_limit_is_413(self, post_batch):
        # 6 MiB of JSON compresses to a few KiB: the limit holds after decompression.
        body = b'{"batch": [], "padding": "' + b"a" * (6 * 1024 * 1024) + b'"}'
        compressed = gzip.compress(body)
        assert len(compressed) < 100_000
        response = post_batch(body=compressed, HTTP_CONTENT_ENCODING="gzip")
        assert response.status_code == 413

    def test_corrupt_gzip_is_400(self, post_batch):
        response = post_batch(body=b"\x1f\x8b\x08not really gzip", HTTP_CONTENT_ENCODING="gzip")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_gzip"


class TestAuthentication:
    def test_missing_key_is_401(self, api_client):
        response = api_client.post("/api/v1/ingest", {"batch": [routing_event()]}, format="json")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"

    @pytest.mark.parametrize("key", ["tg_abcdefgh_" + "x" * 40, "nonsense", "tg_short_x"])
    def test_unknown_key_is_401(self, post_batch, key):
        assert post_batch([routing_event()], key=key).status_code == 401

    def test_right_prefix_wrong_secret_is_401(self, post_batch, ingest_key):
        forged = ingest_key[:12] + ("A" if ingest_key[12] != "A" else "B") + ingest_key[13:]
        assert post_batch([routing_event()], key=forged).status_code == 401

    def test_revoked_key_is_refused_at_once(self, post_batch, ingest_key):
        assert post_batch([routing_event()]).status_code == 200
        api_key_revoke(api_key=ApiKey.objects.get(prefix=ingest_key[3:11]))
        response = post_batch([routing_event()])
        assert response.status_code == 403
        assert "revoked" in response.json()["detail"]

    def test_read_key_cannot_ingest(self, post_batch, project):
        read_key = ApiKeyFactory.create(project=project, scope="read").raw_key
        assert post_batch([routing_event()], key=read_key).status_code == 403
        assert RoutingEvent.objects.count() == 0

    def test_keys_are_stored_hashed(self, ingest_key):
        api_key = ApiKey.objects.get(prefix=ingest_key[3:11])
        assert api_key.digest == hashlib.sha256(ingest_key.encode()).hexdigest()
        stored = " ".join(str(value) for value in ApiKey.objects.values_list().get(pk=api_key.pk))
        assert ingest_key not in stored


class TestTenantIsolation:
    def test_a_key_writes_only_into_its_own_project(self, post_batch, organization, project):
        other = ApiKeyFactory.create(project__organization=organization)  # another project's key
        event = routing_event(project=project.name, service="router", project_id=project.pk)

        assert post_batch([event], key=other.raw_key).status_code == 200

        row = RoutingEvent.objects.get(event_id=event["event_id"])
        assert (row.project_id, row.service_id) == (other.project_id, other.service_id)

    def test_same_event_id_in_two_projects_is_two_events(self, post_batch, organization):
        other_key = ApiKeyFactory.create(project__organization=organization).raw_key
        event = routing_event()
        assert post_batch([event]).json()["accepted"] == 1
        assert post_batch([event], key=other_key).json()["accepted"] == 1
        assert RoutingEvent.objects.filter(event_id=event["event_id"]).count() == 2


class TestIdempotency:
    def test_batch_with_one_known_event_stores_the_others(self, post_batch):
        known = routing_event()
        post_batch([known])
        fresh = [routing_event(), enforcement_event()]
        body = post_batch([fresh[0], known, fresh[1]]).json()
        assert body == {"accepted": 2, "duplicates": 1, "rejected": 0, "errors": []}
        assert stored_ids() == {known["event_id"], *(e["event_id"] for e in fresh)}

    def test_replayed_batch_changes_nothing(self, post_batch):
        events = [routing_event(), enforcement_event(), routing_event()]
        first = post_batch(events).json()
        before = list(RoutingEvent.objects.order_by("seq").values())

        second = post_batch(events).json()
        third = post_batch(events).json()

        assert first["accepted"] == 3
        assert second == third == {"accepted": 0, "duplicates": 3, "rejected": 0, "errors": []}
        assert list(RoutingEvent.objects.order_by("seq").values()) == before
        assert EnforcementEvent.objects.count() == 1

    def test_same_event_twice_in_one_batch_is_stored_once(self, post_batch):
        event = routing_event()
        body = post_batch([event, dict(event), enforcement_event()]).json()
        assert body == {"accepted": 2, "duplicates": 1, "rejected": 0, "errors": []}
        assert RoutingEvent.objects.filter(event_id=event["event_id"]).count() == 1

    def test_dedup_key_is_event_id_and_timestamp_in_and_across_batches(self, post_batch):
        # DESIGN.md "Storage": the unique key holds the partition key, so a retry (same
        # event_id, same timestamp) is a duplicate; a reused id at another time is not.
        event = routing_event()
        moved = {**event, "timestamp": (timezone.now() - timedelta(minutes=7)).isoformat()}
        assert post_batch([event, moved]).json()["accepted"] == 2
        assert post_batch([moved, event]).json()["duplicates"] == 2


class TestPricing:
    def test_priced_from_the_matrix_when_cost_is_absent(self, post_batch):
        event = routing_event(model="claude-opus-4.6", input_tokens=1500, output_tokens=500)
        post_batch([event])
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        assert row.priced_cost_usd == Decimal("0.024")  # 2,000 tokens at $0.012 / 1k
        assert row.reported_cost_usd is None and row.cost_usd == Decimal("0.024")

    def test_reported_cost_wins_and_is_kept_apart(self, post_batch):
        event = routing_event(input_tokens=1000, output_tokens=0, cost_usd="0.123456789")
        post_batch([event])
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        assert row.reported_cost_usd == Decimal("0.12345679")
        assert row.priced_cost_usd == Decimal("0.007")
        assert row.cost_usd == Decimal("0.12345679")

    def test_price_change_prices_each_side_of_the_date(self, post_batch, project):
        change = timezone.now() - timedelta(days=2)
        model = project.matrix_models.get(name="gpt-5.4")
        ModelPrice.objects.create(
            model=model,
            effective_from=change,
            input_per_1k=Decimal("0.001"),
            output_per_1k=Decimal("0.002"),
        )
        before = routing_event(timestamp=(change - timedelta(seconds=1)).isoformat())
        after = routing_event(timestamp=change.isoformat())
        post_batch([before, after])

        old = RoutingEvent.objects.get(event_id=before["event_id"])
        new = RoutingEvent.objects.get(event_id=after["event_id"])
        assert old.priced_cost_usd == Decimal("0.0105")  # 1,500 tokens at $0.007
        assert new.priced_cost_usd == Decimal("0.0018")  # 1,200 x 0.001 + 300 x 0.002
        assert old.price_id != new.price_id

    def test_cache_tokens_are_priced_at_cache_prices(self, post_batch, project):
        model = project.matrix_models.get(name="claude-opus-4.6")
        model.prices.update(
            cache_read_per_1k=Decimal("0.0012"), cache_write_per_1k=Decimal("0.015")
        )
        event = routing_event(
            model="claude-opus-4.6",
            input_tokens=10_000,
            cache_read_tokens=6_000,
            cache_write_tokens=2_000,
            output_tokens=1_000,
        )
        post_batch([event])
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        # 2,000 uncached x 0.012 + 6,000 x 0.0012 + 2,000 x 0.015 + 1,000 x 0.012, per 1,000
        assert row.priced_cost_usd == Decimal("0.0732")

    def test_cache_prices_default_to_the_input_price(self, post_batch):
        event = routing_event(input_tokens=1000, cache_read_tokens=1000, output_tokens=0)
        post_batch([event])
        assert RoutingEvent.objects.get(event_id=event["event_id"]).priced_cost_usd == Decimal(
            "0.007"
        )

    def test_unknown_model_is_stored_unpriced(self, post_batch):
        event = routing_event(model="mystery-llm-9")
        assert post_batch([event]).json()["accepted"] == 1
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        assert row.priced_cost_usd is None and row.price_id is None and row.provider == ""

    def test_event_before_the_first_price_is_unpriced(self, post_batch, project):
        project.matrix_models.get(name="gpt-5.4").prices.update(effective_from=timezone.now())
        event = routing_event(timestamp=(timezone.now() - timedelta(hours=1)).isoformat())
        post_batch([event])
        assert RoutingEvent.objects.get(event_id=event["event_id"]).priced_cost_usd is None


class TestComplexity:
    def test_score_is_computed_when_absent(self, post_batch):
        event = routing_event(input_tokens=4000, tool_calls=10, user_tier="advanced")
        post_batch([event])
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        # 0.4 x 50 + 0.3 x 100 + 0.3 x 50
        assert row.complexity_score == pytest.approx(65.0)
        assert row.complexity_computed is True

    def test_project_scales_are_used(self, post_batch, project):
        project.token_scale, project.tool_scale = 1000, 20
        project.save()
        event = routing_event(input_tokens=500, tool_calls=5, user_tier="vip")
        post_batch([event])
        # 0.4 x 50 + 0.3 x 25 + 0.3 x 100
        assert RoutingEvent.objects.get(
            event_id=event["event_id"]
        ).complexity_score == pytest.approx(57.5)

    def test_reported_score_is_kept(self, post_batch):
        event = routing_event(complexity_score=42)
        post_batch([event])
        row = RoutingEvent.objects.get(event_id=event["event_id"])
        assert (row.complexity_score, row.complexity_computed) == (42.0, False)


class TestRateLimitAndOutage:
    def test_rate_limit_answers_429_with_retry_after(self, post_batch, ingest_key):
        ApiKey.objects.filter(prefix=ingest_key[3:11]).update(rate_limit_per_minute=2)
        assert post_batch([routing_event()]).status_code == 200
        assert post_batch([routing_event()]).status_code == 200
        response = post_batch([routing_event()])
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 60
        assert RoutingEvent.objects.count() == 2

    def test_database_lost_mid_ingest_answers_503_and_keeps_nothing(self, post_batch):
        from ingestion import writer

        real_copy = writer._copy

        def copy_then_lose_database(cursor, table, *args):
            if table == "ingestion_enforcementevent":
                raise OperationalError("server closed the connection unexpectedly")
            return real_copy(cursor, table, *args)

        with mock.patch("ingestion.writer._copy", side_effect=copy_then_lose_database):
            response = post_batch([routing_event(), enforcement_event()])

        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
        assert response.json()["code"] == "storage_unavailable"
        assert RoutingEvent.objects.count() == 0  # the routing half was rolled back with the rest


def test_partitions_are_monthly(post_batch):
    old = datetime.now(UTC) - timedelta(days=45)
    events = [routing_event(timestamp=old.isoformat()), routing_event()]
    assert post_batch(events).json()["accepted"] == 2
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM ingestion_routingevent ORDER BY timestamp"
        )
        partitions = [name for (name,) in cursor.fetchall()]
    assert partitions[0] == f"ingestion_routingevent_y{old.year:04d}m{old.month:02d}"
    assert partitions[0] != partitions[1] or old.month == datetime.now(UTC).month


def test_unknown_fields_are_ignored_not_stored(post_batch):
    event = routing_event(surprise="field", another={"x": 1})
    assert post_batch([event]).status_code == 200
    assert RoutingEvent.objects.get(event_id=event["event_id"]).attributes is None


def test_event_ids_are_normalised(post_batch):
    event_id = uuid.uuid4()
    event = routing_event(event_id=str(event_id).upper())
    assert post_batch([event]).json()["accepted"] == 1
    retry = {**event, "event_id": str(event_id)}
    assert post_batch([retry]).json()["duplicates"] == 1


def test_response_is_json(post_batch):
    response = post_batch([routing_event()])
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["accepted"] == 1

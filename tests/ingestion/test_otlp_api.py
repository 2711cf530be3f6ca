"""`POST /v1/traces`'s contract through the API client: what lands, in both encodings, every
answer code, partial success, the project's default mode, duplicates and isolation."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db.utils import OperationalError
from django.utils import timezone
from google.rpc import code_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from governance.models import ApiKey
from governance.services import api_key_revoke
from ingestion.models import EnforcementEvent, RoutingEvent
from ingestion.otlp.mapping import span_event_id, spans_map
from ingestion.services import spans_ingest
from tests.governance.factories import ApiKeyFactory, OrganizationFactory, ProjectFactory
from tests.ingestion.otlp_spans import (
    chat_attributes,
    export,
    guardrail_attributes,
    otlp_json,
    refusal,
    span,
)

pytestmark = pytest.mark.django_db

PROTOBUF = "application/x-protobuf"


@pytest.fixture
def post_traces(api_client, ingest_key):
    """POST an export request (protobuf unless `as_json`) or a raw body to /v1/traces."""

    def post(
        request=None,
        *,
        as_json=False,
        body=None,
        content_type=None,
        key=None,
        gzip_body=False,
        **headers,
    ):
        if body is None:
            body = (
                json.dumps(otlp_json(request)).encode() if as_json else request.SerializeToString()
            )
        if gzip_body:
            body = gzip.compress(body)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return api_client.generic(
            "POST",
            "/v1/traces",
            data=body,
            content_type=content_type or ("application/json" if as_json else PROTOBUF),
            HTTP_AUTHORIZATION=f"Bearer {key or ingest_key}",
            **headers,
        )

    return post


def partial_success(response):
    """(rejected_spans, error_message) of a protobuf answer."""
    assert response["Content-Type"] == PROTOBUF
    answer = ExportTraceServiceResponse.FromString(response.content)
    return answer.partial_success.rejected_spans, answer.partial_success.error_message


def event_id_of(item) -> str:
    return span_event_id(item.trace_id.hex(), item.span_id.hex())


class TestAccepted:
    def test_chat_and_guardrail_spans_land_as_events(self, post_traces, project, service):
        chat = span(chat_attributes(), duration_ms=320.0)
        check = span(
            guardrail_attributes(**{"tollgate.violation": "pii", "tollgate.severity": "high"}),
            name="apply_guardrail",
            trace_id=chat.trace_id,
            duration_ms=6.5,
        )
        resource = {"service.name": "router", "deployment.environment": "qa"}
        response = post_traces(export(chat, check, resource=resource))

        assert response.status_code == 200
        assert partial_success(response) == (0, "")
        row = RoutingEvent.objects.get(event_id=event_id_of(chat))
        assert (row.project_id, row.service_id) == (project.pk, service.pk)
        assert (row.request_id, row.environment) == (chat.trace_id.hex(), "qa")
        assert (row.model, row.provider, row.mode) == ("gpt-5.4", "openai", "hybrid")
        assert (row.input_tokens, row.output_tokens, row.status) == (1200, 300, "ok")
        assert row.latency_ms == pytest.approx(320.0)
        assert row.priced_cost_usd == Decimal("0.0105")  # 1,500 tokens at $0.007 / 1k
        assert row.timestamp.timestamp() == pytest.approx(chat.start_time_unix_nano / 1e9)
        assert row.attributes == {"span.name": "chat gpt-5.4", "service.name": "router"}
        guard = EnforcementEvent.objects.get(event_id=event_id_of(check))
        assert (guard.request_id, guard.layer, guard.policy, guard.verdict) == (
            chat.trace_id.hex(),
            "execution",
            "pii-filter",
            "block",
        )
        assert (guard.violation, guard.severity) == ("pii", "high")
        assert guard.check_latency_ms == pytest.approx(6.5)

    def test_json_is_answered_in_json(self, post_traces):
        chat = span(chat_attributes(**{"gen_ai.request.model": "claude-opus-4.6"}))
        chat_json = export(span(chat_attributes(**{"gen_ai.response.model": None})), chat)
        response = post_traces(chat_json, as_json=True)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert "no-store" in response["Cache-Control"]  # as every API answer
        assert response.json() == {}
        assert RoutingEvent.objects.count() == 2

    def test_gzip_bodies_in_both_encodings(self, post_traces):
        assert post_traces(export(span(chat_attributes())), gzip_body=True).status_code == 200
        request = export(span(chat_attributes()))
        assert post_traces(request, as_json=True, gzip_body=True).status_code == 200
        assert RoutingEvent.objects.count() == 2

    def test_an_accept_header_does_not_change_the_answer(self, post_traces):
        response = post_traces(export(span(chat_attributes())), HTTP_ACCEPT=PROTOBUF)
        assert response.status_code == 200 and partial_success(response) == (0, "")

    def test_spans_of_other_kinds_are_ignored_not_rejected(self, post_traces):
        request = export(span({"http.request.method": "GET"}, name="GET /v1/chat"))
        response = post_traces(request)
        assert response.status_code == 200 and partial_success(response) == (0, "")
        assert RoutingEvent.objects.count() == EnforcementEvent.objects.count() == 0

    def test_cost_follows_the_price_in_force_at_the_span_start(self, post_traces, project):
        attributes = chat_attributes(
            **{
                "gen_ai.response.model": "claude-opus-4.6",
                "gen_ai.usage.input_tokens": 10_000,
                "gen_ai.usage.cache_read.input_tokens": 6_000,
                "gen_ai.usage.cache_creation.input_tokens": 2_000,
                "gen_ai.usage.output_tokens": 1_000,
                "gen_ai.usage.reasoning.output_tokens": 400,
            }
        )
        project.matrix_models.get(name="claude-opus-4.6").prices.update(
            cache_read_per_1k=Decimal("0.0012"), cache_write_per_1k=Decimal("0.015")
        )
        chat = span(attributes)
        post_traces(export(chat))
        row = RoutingEvent.objects.get(event_id=event_id_of(chat))
        assert (row.cache_read_tokens, row.cache_write_tokens, row.reasoning_tokens) == (
            6_000,
            2_000,
            400,
        )
        # 2,000 uncached x 0.012 + 6,000 x 0.0012 + 2,000 x 0.015 + 1,000 x 0.012, per 1,000
        assert row.priced_cost_usd == Decimal("0.0732")

    def test_a_failed_call_is_stored_with_its_status(self, post_traces):
        attributes = chat_attributes(
            **{
                "gen_ai.usage.input_tokens": None,
                "gen_ai.usage.output_tokens": None,
                "error.type": "openai.APITimeoutError",
            }
        )
        chat = span(attributes, error=True)
        post_traces(export(chat))
        row = RoutingEvent.objects.get(event_id=event_id_of(chat))
        assert (row.status, row.error_type) == ("timeout", "openai.APITimeoutError")
        assert (row.input_tokens, row.output_tokens, row.priced_cost_usd) == (0, 0, Decimal("0"))


class TestMode:
    def test_routing_spans_take_the_project_default_mode(self, post_traces, project):
        project.default_mode = "enforcement_first"
        project.save()
        chat = span(chat_attributes())
        explicit = span(chat_attributes(**{"tollgate.mode": "routing_first"}))
        check = span(guardrail_attributes(), name="apply_guardrail")
        assert post_traces(export(chat, explicit, check)).status_code == 200
        assert RoutingEvent.objects.get(event_id=event_id_of(chat)).mode == "enforcement_first"
        assert RoutingEvent.objects.get(event_id=event_id_of(explicit)).mode == "routing_first"
        assert EnforcementEvent.objects.get(event_id=event_id_of(check)).mode is None

    def test_the_json_ingest_api_still_requires_mode(self, post_batch, project):
        from tests.conftest import routing_event

        event = routing_event()
        del event["mode"]
        assert post_batch([event]).json()["errors"][0]["field"] == "mode"


class TestPartialSuccess:
    def test_a_span_that_cannot_be_mapped_is_counted_and_named(self, post_traces):
        good = span(chat_attributes())
        unknown = span(
            guardrail_attributes(**{"gen_ai.security.decision.type": "shrug"}),
            name="apply_guardrail",
        )
        response = post_traces(export(good, unknown))
        assert response.status_code == 200
        rejected, message = partial_success(response)
        assert rejected == 1
        assert message.startswith(f"span {unknown.span_id.hex()}: gen_ai.security.decision.type")
        assert RoutingEvent.objects.filter(event_id=event_id_of(good)).exists()
        assert EnforcementEvent.objects.count() == 0

    @pytest.mark.parametrize(
        ("attributes", "named"),
        [
            ({"gen_ai.usage.input_tokens": None}, "gen_ai.usage.input_tokens is required"),
            ({"gen_ai.usage.output_tokens": -1}, "gen_ai.usage.output_tokens must be between"),
            ({"tollgate.mode": "fastest"}, "tollgate.mode must be one of"),
            ({"gen_ai.request.model": None, "gen_ai.response.model": None}, "gen_ai.response."),
            ({"gen_ai.usage.reasoning.output_tokens": 301}, "reasoning.output_tokens must not"),
            ({"tollgate.user_tier": "gold"}, "tollgate.user_tier must be one of"),
            ({"gen_ai.provider.name": 7}, "gen_ai.provider.name (or gen_ai.system) must be a"),
        ],
    )
    def test_validation_errors_name_the_span_attribute(self, post_traces, attributes, named):
        bad = span(chat_attributes(**attributes))
        response = post_traces(export(span(chat_attributes()), bad))
        rejected, message = partial_success(response)
        assert rejected == 1
        assert message.startswith(f"span {bad.span_id.hex()}: ")
        assert named in message
        assert RoutingEvent.objects.count() == 1

    def test_the_first_rejected_span_gives_the_message(self, post_traces):
        too_old = span(chat_attributes(), start=timezone.now() - timedelta(days=400))
        unmapped = span(guardrail_attributes(**{"gen_ai.security.decision.type": None}))
        response = post_traces(export(too_old, unmapped), as_json=True)
        assert response.status_code == 200
        answer = response.json()["partialSuccess"]
        assert answer["rejectedSpans"] == "2"
        assert answer["errorMessage"] == (
            f"span {too_old.span_id.hex()}: start_time_unix_nano is older than the 90-day "
            "retention window"
        )

    def test_a_span_that_ends_before_it_starts_names_the_duration(self, post_traces):
        bad = span(chat_attributes(), duration_ms=-5)
        _, message = partial_success(post_traces(export(bad)))
        assert "span duration (end_time_unix_nano - start_time_unix_nano) must be" in message


class TestDuplicates:
    def test_exporting_the_same_spans_again_adds_nothing(self, post_traces):
        request = export(
            span(chat_attributes()), span(guardrail_attributes(), name="apply_guardrail")
        )
        assert post_traces(request).status_code == 200
        assert post_traces(request, as_json=True).status_code == 200
        assert post_traces(request).status_code == 200
        assert RoutingEvent.objects.count() == EnforcementEvent.objects.count() == 1

    def test_a_span_twice_in_one_export_is_stored_once(self, post_traces):
        chat = span(chat_attributes())
        response = post_traces(export(chat, chat))
        assert partial_success(response) == (0, "")
        assert RoutingEvent.objects.count() == 1


class TestRefused:
    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b"\xff\xff\xff\xff", PROTOBUF),
            (b"\x0a\x05\x0a", PROTOBUF),  # truncated
            (b"{not json", "application/json"),
            (b'{"resourceSpans": "many"}', "application/json"),
        ],
    )
    def test_a_bad_body_is_400(self, post_traces, body, content_type):
        response = post_traces(body=body, content_type=content_type)
        assert response.status_code == 400
        assert response["Content-Type"] == content_type
        code, message, _ = refusal(response)
        assert code == code_pb2.INVALID_ARGUMENT and message

    def test_a_bad_hex_id_is_400_naming_it(self, post_traces):
        document = otlp_json(export(span(chat_attributes())))
        document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "xyz"
        response = post_traces(body=json.dumps(document).encode(), content_type="application/json")
        assert response.status_code == 400
        field = "resourceSpans[0].scopeSpans[0].spans[0].spanId"
        code, message, named = refusal(response)
        assert (code, named) == (code_pb2.INVALID_ARGUMENT, field)
        assert message.startswith(field) and message.count(field) == 1
        assert "16 hex digits" in message

    def test_an_empty_body_is_400(self, post_traces):
        assert post_traces(body=b"").status_code == 400

    @pytest.mark.parametrize("content_type", ["text/plain", "application/grpc"])
    def test_other_content_types_are_415(self, post_traces, content_type):
        response = post_traces(export(span(chat_attributes())), content_type=content_type)
        assert response.status_code == 415

    def test_an_unknown_encoding_is_415(self, post_traces):
        response = post_traces(export(span(chat_attributes())), HTTP_CONTENT_ENCODING="br")
        assert response.status_code == 415

    def test_more_than_1000_genai_spans_is_413(self, post_traces):
        spans = [span(chat_attributes()) for _ in range(1001)]
        response = post_traces(export(*spans))
        assert response.status_code == 413
        code, message, _ = refusal(response)
        assert code == code_pb2.RESOURCE_EXHAUSTED and "1001" in message
        assert RoutingEvent.objects.count() == 0

    def test_other_spans_do_not_count_towards_the_cap(self, post_traces):
        others = [span({"db.system": "postgresql"}, name="SELECT") for _ in range(1500)]
        assert post_traces(export(span(chat_attributes()), *others)).status_code == 200
        assert RoutingEvent.objects.count() == 1

    def test_more_than_5_mib_decompressed_is_413(self, post_traces):
        huge = span(chat_attributes(**{"padding": "x" * (5 * 1024 * 1024)}))
        assert post_traces(export(huge), gzip_body=True).status_code == 413


class TestKeys:
    def test_missing_key_is_401(self, api_client):
        body = export(span(chat_attributes())).SerializeToString()
        response = api_client.generic("POST", "/v1/traces", data=body, content_type=PROTOBUF)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
        assert refusal(response)[0] == code_pb2.UNAUTHENTICATED

    def test_unknown_key_is_401(self, post_traces):
        response = post_traces(export(span(chat_attributes())), key="tg_abcdefgh_" + "x" * 40)
        assert response.status_code == 401

    def test_revoked_and_read_keys_are_403(self, post_traces, ingest_key, project):
        read_key = ApiKeyFactory.create(project=project, scope="read").raw_key
        assert post_traces(export(span(chat_attributes())), key=read_key).status_code == 403
        api_key_revoke(api_key=ApiKey.objects.get(prefix=ingest_key[3:11]))
        assert post_traces(export(span(chat_attributes()))).status_code == 403
        assert RoutingEvent.objects.count() == 0

    def test_another_organizations_key_writes_only_into_its_own_project(
        self, post_traces, project, service
    ):
        other_project = ProjectFactory.create(
            organization=OrganizationFactory.create(name="globex"), matrix=True
        )
        other = ApiKeyFactory.create(project=other_project)
        request = export(span(chat_attributes()))

        assert post_traces(request, key=other.raw_key).status_code == 200
        assert post_traces(request).status_code == 200  # the same span: an event per project

        assert sorted(RoutingEvent.objects.values_list("project_id", "service_id")) == sorted(
            [(other.project_id, other.service_id), (project.pk, service.pk)]
        )


class TestOverload:
    def test_rate_limit_answers_429_with_retry_after(self, post_traces, ingest_key):
        ApiKey.objects.filter(prefix=ingest_key[3:11]).update(rate_limit_per_minute=1)
        assert post_traces(export(span(chat_attributes()))).status_code == 200
        response = post_traces(export(span(chat_attributes())))
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 60
        assert refusal(response)[0] == code_pb2.RESOURCE_EXHAUSTED

    def test_storage_lost_answers_503_and_keeps_nothing(self, post_traces):
        with mock.patch(
            "ingestion.writer._copy", side_effect=OperationalError("server closed the connection")
        ):
            response = post_traces(export(span(chat_attributes())))
        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
        assert refusal(response)[0] == code_pb2.UNAVAILABLE
        assert RoutingEvent.objects.count() == 0


def test_spans_ingest_counts_new_and_known_events_and_refused_spans(ingest_key):
    """The service behind the view: what an export stored, what it already had, and what it
    refused, with the first refused span's reason."""
    api_key = ApiKey.objects.select_related("project").get(prefix=ingest_key[3:11])
    bad = span(chat_attributes(**{"tollgate.mode": "fastest"}))
    spans = spans_map(export(span(chat_attributes()), bad, span(guardrail_attributes())))

    first = spans_ingest(api_key=api_key, spans=spans, now=timezone.now())
    again = spans_ingest(api_key=api_key, spans=spans, now=timezone.now())

    assert (first.accepted, first.duplicates, first.rejected_spans) == (2, 0, 1)
    assert (again.accepted, again.duplicates, again.rejected_spans) == (0, 2, 1)
    assert first.error_message == (
        f"span {bad.span_id.hex()}: tollgate.mode must be one of routing_first, "
        "enforcement_first, hybrid"
    )

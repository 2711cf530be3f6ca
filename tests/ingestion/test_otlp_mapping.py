"""Spans to events (ingestion.otlp.mapping): every attribute DESIGN.md names, the defaults, the
statuses and verdicts, the ids; and the OTLP JSON decoder's hex ids (ingestion.otlp.codec)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

from ingestion.otlp.codec import (
    JSON,
    PROTOBUF,
    OtlpBodyError,
    request_decode,
    response_encode,
)
from ingestion.otlp.mapping import EVENT_ID_NAMESPACE, span_event_id, spans_map
from tests.ingestion.otlp_spans import (
    chat_attributes,
    export,
    guardrail_attributes,
    otlp_json,
    span,
)

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
START = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)


def one_event(*spans, **kwargs):
    mapped = spans_map(export(*spans, **kwargs))
    assert mapped.problems == []
    (event,) = mapped.events
    return event


class TestRouting:
    def test_a_chat_span_becomes_a_routing_event(self):
        event = one_event(
            span(chat_attributes(), trace_id=TRACE, span_id=SPAN, start=START, duration_ms=250.0)
        )
        assert event["type"] == "routing"
        assert event["request_id"] == TRACE.hex()
        assert event["event_id"] == str(uuid.uuid5(EVENT_ID_NAMESPACE, TRACE.hex() + SPAN.hex()))
        assert event["timestamp"] == START
        assert event["latency_ms"] == pytest.approx(250.0)
        assert (event["model"], event["provider"]) == ("gpt-5.4", "openai")
        assert (event["input_tokens"], event["output_tokens"]) == (1200, 300)
        assert event["status"] == "ok" and event["error_type"] is None
        assert event["mode"] is None  # filled by validation from the project's default
        assert event["attributes"] == {"span.name": "chat gpt-5.4", "service.name": "router"}

    @pytest.mark.parametrize("operation", ["chat", "text_completion", "generate_content"])
    def test_each_model_call_operation_is_routing(self, operation):
        event = one_event(span(chat_attributes(**{"gen_ai.operation.name": operation})))
        assert event["type"] == "routing"

    def test_the_response_model_wins_over_the_requested_one(self):
        attributes = chat_attributes(**{"gen_ai.response.model": "gpt-5.4-2026-11-01"})
        assert one_event(span(attributes))["model"] == "gpt-5.4-2026-11-01"
        attributes = chat_attributes(**{"gen_ai.response.model": None})
        assert one_event(span(attributes))["model"] == "gpt-5.4"

    def test_the_older_gen_ai_system_names_the_provider(self):
        attributes = chat_attributes(**{"gen_ai.provider.name": None, "gen_ai.system": "anthropic"})
        assert one_event(span(attributes))["provider"] == "anthropic"
        both = chat_attributes(**{"gen_ai.system": "az.ai.openai"})
        assert one_event(span(both))["provider"] == "openai"

    def test_cache_and_reasoning_tokens(self):
        attributes = chat_attributes(
            **{
                "gen_ai.usage.cache_read.input_tokens": 600,
                "gen_ai.usage.cache_creation.input_tokens": 200,
                "gen_ai.usage.reasoning.output_tokens": 90,
            }
        )
        event = one_event(span(attributes))
        assert (event["cache_read_tokens"], event["cache_write_tokens"]) == (600, 200)
        assert event["reasoning_tokens"] == 90

    def test_token_counts_sent_as_whole_doubles_are_counts(self):
        attributes = chat_attributes(**{"gen_ai.usage.input_tokens": 1200.0})
        event = one_event(span(attributes))
        assert event["input_tokens"] == 1200 and type(event["input_tokens"]) is int

    def test_tollgate_attributes_fill_what_otel_lacks(self):
        attributes = chat_attributes(
            **{
                "tollgate.mode": "routing_first",
                "tollgate.complexity_score": 42.5,
                "tollgate.user_tier": "vip",
                "tollgate.fallback_from": "claude-opus-4.6",
                "tollgate.route_reason": "fallback",
                "tollgate.router_version": "router-2026.12.1",
            }
        )
        event = one_event(span(attributes))
        assert event["mode"] == "routing_first"
        assert event["complexity_score"] == 42.5 and event["user_tier"] == "vip"
        assert (event["fallback_from"], event["route_reason"]) == ("claude-opus-4.6", "fallback")
        assert event["router_version"] == "router-2026.12.1"

    @pytest.mark.parametrize(
        ("error", "error_type", "status"),
        [
            (True, None, "error"),
            (False, "openai.InternalServerError", "error"),
            (True, "TimeoutError", "timeout"),
            (False, "openai.APITimeoutError", "timeout"),
            (True, "deadline_exceeded", "timeout"),
            (True, "RateLimitError", "rate_limited"),
            (False, "429", "rate_limited"),
        ],
    )
    def test_failures(self, error, error_type, status):
        attributes = chat_attributes(**{"error.type": error_type})
        event = one_event(span(attributes, error=error))
        assert event["status"] == status
        assert event["error_type"] == error_type

    def test_a_failed_call_without_usage_has_no_tokens(self):
        attributes = chat_attributes(
            **{"gen_ai.usage.input_tokens": None, "gen_ai.usage.output_tokens": None}
        )
        failed = one_event(span(attributes, error=True))
        assert (failed["input_tokens"], failed["output_tokens"]) == (0, 0)
        succeeded = one_event(span(attributes))  # refused by validation: it would look free
        assert (succeeded["input_tokens"], succeeded["output_tokens"]) == (None, None)


def test_long_span_and_service_names_are_cut_not_refused():
    event = one_event(
        span(chat_attributes(), name="n" * 5000), resource={"service.name": "s" * 900}
    )
    assert event["attributes"] == {"span.name": "n" * 200, "service.name": "s" * 200}


class TestEnvironment:
    def test_deployment_environment_name_wins(self):
        resource = {"deployment.environment.name": "staging", "deployment.environment": "qa"}
        assert one_event(span(chat_attributes()), resource=resource)["environment"] == "staging"

    def test_the_older_deployment_environment_is_the_fallback(self):
        resource = {"deployment.environment": "qa"}
        assert one_event(span(chat_attributes()), resource=resource)["environment"] == "qa"

    def test_none_leaves_the_default_to_validation(self):
        event = one_event(span(chat_attributes()), resource={})
        assert event["environment"] is None
        assert event["attributes"] == {"span.name": "chat gpt-5.4"}


class TestGuardrail:
    @pytest.mark.parametrize(
        ("decision", "verdict"),
        [("allow", "allow"), ("deny", "block"), ("modify", "modify"), ("warn", "flag"),
         ("audit", "flag")],
    )  # fmt: skip
    def test_decisions_become_verdicts(self, decision, verdict):
        attributes = guardrail_attributes(**{"gen_ai.security.decision.type": decision})
        event = one_event(span(attributes, name="apply_guardrail pii", duration_ms=4.5))
        assert event["type"] == "enforcement"
        assert event["verdict"] == verdict
        assert event["check_latency_ms"] == pytest.approx(4.5)

    def test_a_span_named_apply_guardrail_is_a_check_without_the_operation(self):
        attributes = guardrail_attributes(**{"gen_ai.operation.name": None})
        assert one_event(span(attributes, name="apply_guardrail"))["type"] == "enforcement"

    def test_policy_and_defaults(self):
        event = one_event(span(guardrail_attributes(), name="apply_guardrail"))
        assert event["policy"] == "pii-filter"
        assert event["layer"] == "execution"
        assert event["mode"] is None  # optional for checks: no project default
        assert event["false_positive"] is None and event["violation"] is None

    def test_the_guardian_names_the_policy_when_no_policy_does(self):
        attributes = guardrail_attributes(
            **{"security.policy.name": None, "gen_ai.guardian.name": "llama-guard"}
        )
        assert one_event(span(attributes, name="apply_guardrail"))["policy"] == "llama-guard"

    def test_tollgate_attributes(self):
        attributes = guardrail_attributes(
            **{
                "tollgate.layer": "preprocess",
                "tollgate.violation": "pii",
                "tollgate.severity": "high",
                "tollgate.false_positive": True,
                "tollgate.policy_version": "pii-v7",
                "tollgate.mode": "enforcement_first",
            }
        )
        event = one_event(span(attributes, name="apply_guardrail"))
        assert (event["layer"], event["violation"], event["severity"]) == (
            "preprocess",
            "pii",
            "high",
        )
        assert event["false_positive"] is True and event["policy_version"] == "pii-v7"
        assert event["mode"] == "enforcement_first"

    @pytest.mark.parametrize(("decision", "message"), [(None, "is required"), ("maybe", "must")])
    def test_an_unknown_decision_is_a_problem_naming_the_attribute(self, decision, message):
        attributes = guardrail_attributes(**{"gen_ai.security.decision.type": decision})
        mapped = spans_map(export(span(attributes, name="apply_guardrail", span_id=SPAN)))
        assert mapped.events == []
        (problem,) = mapped.problems
        assert problem.source == "gen_ai.security.decision.type"
        assert problem.message.startswith(message)
        assert problem.text().startswith(f"span {SPAN.hex()}: gen_ai.security.decision.type")


class TestSelection:
    def test_other_spans_are_ignored_and_positions_count_only_candidates(self):
        mapped = spans_map(
            export(
                span({"http.request.method": "GET"}, name="GET /"),
                span(chat_attributes(**{"gen_ai.operation.name": "embeddings"})),
                span(chat_attributes()),
                span(guardrail_attributes(**{"gen_ai.security.decision.type": "?"})),
                span(guardrail_attributes(), name="apply_guardrail"),
            )
        )
        assert [event["type"] for event in mapped.events] == ["routing", "enforcement"]
        assert mapped.positions == [0, 2]
        assert [problem.position for problem in mapped.problems] == [1]
        assert mapped.candidates == 3

    def test_ids_of_the_wrong_length_are_a_problem(self):
        mapped = spans_map(export(span(chat_attributes(), trace_id=b"short")))
        assert mapped.events == [] and mapped.problems[0].source == "trace_id and span_id"

    def test_the_event_id_is_stable_and_differs_per_span(self):
        first = span_event_id(TRACE.hex(), SPAN.hex())
        assert first == span_event_id(TRACE.hex(), SPAN.hex())
        assert first == str(uuid.uuid5(EVENT_ID_NAMESPACE, TRACE.hex() + SPAN.hex()))
        assert first != span_event_id(TRACE.hex(), "eee19b7ec3c1b175")
        assert uuid.UUID(first).version == 5

    def test_a_non_scalar_attribute_is_passed_on_for_validation_to_refuse(self):
        tags = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="x")]))
        event = one_event(span(chat_attributes(**{"tollgate.mode": tags})))
        assert isinstance(event["mode"], AnyValue)


class TestJsonDecoding:
    def test_hex_ids_and_string_int64s_are_read_as_otlp_json_writes_them(self):
        request = export(span(chat_attributes(), trace_id=TRACE, span_id=SPAN, start=START))
        document = otlp_json(request)
        item = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        assert item["traceId"] == TRACE.hex() and item["spanId"] == SPAN.hex()
        assert isinstance(item["startTimeUnixNano"], str)  # int64 as a string

        decoded = request_decode(json.dumps(document).encode(), JSON)

        assert decoded == request
        assert decoded.resource_spans[0].scope_spans[0].spans[0].trace_id == TRACE

    def test_a_hex_id_that_is_also_base64_is_read_as_hex(self):
        # 32 hex digits are valid base64 too (24 bytes): proto3 JSON would read them so.
        request = export(span(chat_attributes(), trace_id=TRACE))
        decoded = request_decode(json.dumps(otlp_json(request)).encode(), JSON)
        assert decoded.resource_spans[0].scope_spans[0].spans[0].trace_id == TRACE

    @pytest.mark.parametrize("trace_id", ["zz" * 16, "ab" * 15, "W47/95gDgQPSabYzgT/GDA=="])
    def test_a_bad_hex_id_is_refused_naming_it(self, trace_id):
        document = otlp_json(export(span(chat_attributes())))
        document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = trace_id
        with pytest.raises(OtlpBodyError) as raised:
            request_decode(json.dumps(document).encode(), JSON)
        assert raised.value.field == "resourceSpans[0].scopeSpans[0].spans[0].traceId"

    @pytest.mark.parametrize(
        "body", [b"{", b"[]", b'{"resourceSpans": 3}', b'{"resourceSpans": [{"resource": 1}]}']
    )
    def test_bad_json_is_refused(self, body):
        with pytest.raises(OtlpBodyError):
            request_decode(body, JSON)

    def test_bad_protobuf_is_refused(self):
        good = export(span(chat_attributes())).SerializeToString()
        with pytest.raises(OtlpBodyError):
            request_decode(good[:-3], PROTOBUF)


class TestResponse:
    def test_partial_success_only_when_spans_were_rejected(self):
        empty = response_encode(rejected_spans=0, error_message="", media_type=PROTOBUF)
        assert not ExportTraceServiceResponse.FromString(empty).HasField("partial_success")
        assert response_encode(rejected_spans=0, error_message="", media_type=JSON) == b"{}"

        body = response_encode(rejected_spans=2, error_message="span x: why", media_type=PROTOBUF)
        partial = ExportTraceServiceResponse.FromString(body).partial_success
        assert (partial.rejected_spans, partial.error_message) == (2, "span x: why")
        text = response_encode(rejected_spans=2, error_message="why", media_type=JSON)
        assert json.loads(text) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "why"}}


def test_an_empty_request_maps_to_nothing():
    mapped = spans_map(ExportTraceServiceRequest())
    assert (mapped.events, mapped.problems, mapped.candidates) == ([], [], 0)

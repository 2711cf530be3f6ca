"""No body, however strange, makes `/v1/traces` answer 500 (hypothesis). The endpoint is left
out of the OpenAPI schema (protobuf is not describable there), so schemathesis does not reach
it: this is its fuzzing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

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
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
ATTRIBUTES = sorted(
    {*chat_attributes(), *guardrail_attributes()}
    | {
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "error.type",
        "tollgate.mode",
        "tollgate.layer",
        "tollgate.false_positive",
        "tollgate.complexity_score",
        "tollgate.severity",
    }
)


@st.composite
def mutated_exports(draw) -> bytes:
    """A chat or guardrail span with some attributes replaced by arbitrary scalars or dropped,
    and an odd duration, serialized as protobuf."""
    make = draw(st.sampled_from([chat_attributes, guardrail_attributes]))
    attributes = make()
    for key in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=4)):
        value = draw(scalars)
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    duration_ms = draw(st.floats(-1e6, 1e9))
    name = draw(st.sampled_from(["apply_guardrail", "chat", ""]))
    return export(span(attributes, name=name, duration_ms=duration_ms)).SerializeToString()


@st.composite
def mutated_json(draw) -> bytes:
    document = otlp_json(export(span(chat_attributes())))
    item = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in draw(st.lists(st.sampled_from(sorted(item)), max_size=3)):
        item[key] = draw(json_values)
    return json.dumps(document).encode()


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(st.binary(max_size=200), mutated_exports()),
    media_type=st.sampled_from([PROTOBUF, "application/json"]),
)
def test_no_protobuf_body_produces_a_500(api_client, ingest_key, body, media_type):
    response = api_client.generic(
        "POST",
        "/v1/traces",
        data=body,
        content_type=media_type,
        HTTP_AUTHORIZATION=f"Bearer {ingest_key}",
    )
    assert response.status_code in {200, 400}, response.content
    if response.status_code == 400:
        assert refusal(response)[1]
    elif media_type == PROTOBUF:
        answer = ExportTraceServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_spans in (0, 1)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(mutated_json(), json_values.map(lambda v: json.dumps(v).encode())))
def test_no_json_body_produces_a_500(api_client, ingest_key, body):
    response = api_client.generic(
        "POST",
        "/v1/traces",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {ingest_key}",
    )
    assert response.status_code in {200, 400}, response.content
    if response.status_code == 400:
        assert refusal(response)[1]
    else:
        payload = response.json()
        assert payload == {} or "partialSuccess" in payload

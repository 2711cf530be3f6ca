"""No body, however strange, makes the ingest API answer 500 (hypothesis), and the published
OpenAPI schema holds for what it answers (schemathesis)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import enforcement_event, routing_event

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = sorted(
    set(routing_event()) | set(enforcement_event()) | {"attributes", "cost_usd", "user_tier"}
)


@st.composite
def mutated_events(draw) -> object:
    """A valid event with some fields replaced by arbitrary JSON, or dropped."""
    base = draw(st.sampled_from([routing_event, enforcement_event]))()
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        if draw(st.booleans()):
            base[field] = draw(json_values)
        else:
            base.pop(field, None)
    return base


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(mutated_events(), min_size=1, max_size=8).map(
        lambda batch: json.dumps({"batch": batch}).encode()
    ),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_body_produces_a_500(post_batch, body):
    response = post_batch(body=body)
    assert response.status_code in {200, 207, 400, 413}, response.content
    payload = response.json()
    if response.status_code in (200, 207):
        assert payload["accepted"] + payload["duplicates"] + payload["rejected"] == len(
            json.loads(body)["batch"]
        )
        assert (response.status_code == 207) == (payload["rejected"] > 0)
    else:
        assert payload["detail"]


def _wsgi_app():
    # Django's own application, not tollgate.wsgi's: importing that switches this whole test
    # process to the web's database timeouts (tollgate/db), under every test after this one.
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", _wsgi_app())


@pytest.fixture
def auth_headers(ingest_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {ingest_key}"}


# A real WSGI round trip ends with Django closing connections that sit inside a transaction, so
# this test runs in autocommit (transaction=True) like a served request does.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_honours_its_schema(case, auth_headers):
    case.call_and_validate(
        headers=auth_headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )

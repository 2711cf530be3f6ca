"""The query guard: NUL and other control characters, over-long values and too many
parameters answer 400 naming the parameter (JSON under /api/, plain text elsewhere); a path
segment that cannot name anything answers 404. Each of the site's known 500s from a query
string is pinned here."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.test import Client, override_settings

from governance.services import api_key_create, user_create
from tollgate.query_guard import Refusal, path_refused, query_refusal, shown_name

pytestmark = pytest.mark.django_db

LIMITS = {"max_parameters": 5, "max_value_chars": 10, "max_name_chars": 8}


def refusal_of(query: str, **limits: int) -> Refusal | None:
    return query_refusal(
        raw_query=query,
        read_parameters=lambda: QueryDict(query).lists(),
        **{**LIMITS, **limits},
    )


# --- The rules, as plain functions --------------------------------------------------------


def test_values_up_to_the_cap_pass_and_one_more_character_is_refused():
    assert refusal_of("q=" + "x" * 10) is None
    assert refusal_of("q=" + "x" * 11) == Refusal("q", "must be at most 10 characters long")


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1f", "\x7f", "\x0b"])
def test_control_characters_are_refused_in_values_and_names(character):
    in_value = refusal_of(urlencode({"q": f"a{character}"}))
    assert in_value is not None and in_value.field == "q"
    named = refusal_of(urlencode({f"q{character}": "1"}))
    assert named is not None
    assert named.field == f"q\\x{ord(character):02x}"  # shown escaped, never raw
    assert "control character" in named.message


@pytest.mark.parametrize("character", ["\t", "\n", "\r", "é", "\u0661"])
def test_tab_newline_and_letters_of_any_script_pass(character):
    assert refusal_of(urlencode({"q": f"a{character}"})) is None


def test_the_parameter_count_is_judged_before_the_query_string_is_parsed():
    parsed = []

    def read() -> list:
        parsed.append(True)
        return []

    refusal = query_refusal(raw_query="&".join(["a=1"] * 6), read_parameters=read, **LIMITS)
    assert refusal == Refusal("query", "may hold at most 5 parameters")
    assert parsed == []  # Django's own parse (and its TooManyFieldsSent) never ran
    assert refusal_of("&".join(["a=1"] * 5)) is None  # repeats count, up to the cap


def test_over_long_names_are_refused_and_shown_shortened():
    assert refusal_of("abcdefgh=1") is None
    long_name = refusal_of("abcdefghi=1")
    assert long_name is not None and long_name.field == "abcdefghi"
    assert shown_name("n" * 150) == "n" * 100 + "..."


def test_path_segments_with_controls_or_past_the_cap_are_refused():
    assert not path_refused("/admin/governance/project/12/change/", max_segment_chars=20)
    assert path_refused("/admin/governance/project/\x00/change/", max_segment_chars=20)
    assert path_refused("/admin/" + "a" * 21 + "/", max_segment_chars=20)


# --- Through the site ---------------------------------------------------------------------


@pytest.fixture
def read_client(project) -> Client:
    _, raw = api_key_create(project=project, scope="read")
    return Client(headers={"Authorization": f"Bearer {raw}"})


@pytest.fixture
def admin_client_of_tenant(project) -> Client:
    user = user_create(
        organization=project.organization, username="ada", role="admin", password="pw-123-long"
    )
    client = Client()
    client.force_login(user)
    return client


def test_alerts_api_with_a_nul_project_is_a_400_naming_it(read_client):
    """The issue's `GET /api/v1/alerts?project=%00` (was a DataError, a 500)."""
    response = read_client.get("/api/v1/alerts?project=%00")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["field"] == "project" and body["code"] == "invalid_parameter"
    assert body["detail"].startswith("project: ")


def test_api_answers_are_shaped_like_the_apis_own_400s(read_client):
    guard = read_client.get("/api/v1/metrics/summary?" + urlencode({"model": "x" * 1001})).json()
    view = read_client.get("/api/v1/metrics/summary?mode=sideways").json()
    assert set(guard) == set(view) == {"detail", "code", "field"}
    assert (guard["field"], guard["code"]) == ("model", view["code"])
    assert "at most 1000 characters" in guard["detail"]


@pytest.mark.parametrize(
    ("url", "named"),
    [("/dashboard/?unknown=%00", "unknown: "), ("/admin/governance/project/?q=a%01b", "q: ")],
)
def test_dashboard_and_admin_answer_plain_text(admin_client_of_tenant, url, named):
    response = admin_client_of_tenant.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert named in response.content.decode()


def test_admin_changelist_with_a_nul_filter_is_a_400(admin_client_of_tenant):
    """The issue's `?scope=%00` on a changelist (was a DataError, a 500)."""
    response = admin_client_of_tenant.get("/admin/governance/apikey/?scope=%00")
    assert response.status_code == 400
    assert b"scope: must not contain NUL" in response.content


def test_anonymous_callers_are_refused_the_same_before_any_sign_in(client):
    response = client.get("/api/v1/alerts?state=%00")
    assert response.status_code == 400 and response.json()["field"] == "state"


def test_too_many_parameters_is_a_400_naming_the_query(read_client):
    response = read_client.get("/api/v1/alerts?" + "&".join(["state=firing"] * 101))
    assert response.status_code == 400 and response.json()["field"] == "query"
    # Past Django's own limit of 1,000 too: the same answer, not Django's bare 400.
    response = read_client.get("/api/v1/alerts?" + "&".join(["a=1"] * 1500))
    assert response.status_code == 400 and response.json()["field"] == "query"


@override_settings(TOLLGATE_QUERY_MAX_VALUE_CHARS=5)
def test_the_caps_come_from_settings(read_client):
    assert read_client.get("/api/v1/alerts?state=fire").status_code == 400  # not a state
    response = read_client.get("/api/v1/alerts?state=firing")
    assert response.status_code == 400 and "at most 5 characters" in response.json()["detail"]


def test_nul_or_over_long_path_segments_are_404(read_client, admin_client_of_tenant):
    response = read_client.get("/api/v1/alerts/%00/acknowledge")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    long_id = "1" * 201
    assert (
        admin_client_of_tenant.get(f"/admin/governance/project/{long_id}/change/").status_code
        == 404
    )
    assert admin_client_of_tenant.get("/dashboard/alerts/%00/silence").status_code == 404

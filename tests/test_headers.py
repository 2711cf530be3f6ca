"""Headers and sessions: a Content-Security-Policy whose nonce is new on every page and is the
one the page's inline code carries; `Cache-Control: no-store` on every answer Django makes
(pages, CSV, API, errors) but not on static assets; 12 h sessions; HSTS preload only when
asked for, with the production settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.db.utils import OperationalError
from django.test import Client

from governance.services import user_create
from tests.conftest import routing_event

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-123-long-enough"
PAGES = [
    "/dashboard/",
    "/dashboard/reliability/",
    "/dashboard/enforcement/",
    "/dashboard/routing/",
    "/dashboard/cost/",
    "/dashboard/alerts/",
]


@pytest.fixture
def signed_in(organization, project):
    """A Client signed in as a member of `organization` with the given role."""

    def make(role: str) -> Client:
        user = user_create(organization=organization, username=role, role=role, password=PASSWORD)
        client = Client()
        client.force_login(user)
        return client

    return make


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


def header_nonce(response) -> str:
    script_nonces = [s for s in directives(response)["script-src"] if s.startswith("'nonce-")]
    assert len(script_nonces) == 1, response["Content-Security-Policy"]
    return script_nonces[0][len("'nonce-") : -1]


class InlineCode(HTMLParser):
    """The nonces of inline <script> and <style> elements, and what no nonce can allow:
    style attributes and event-handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.nonces: list[str | None] = []
        self.unallowable: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "style" or (tag == "script" and "src" not in named):
            self.nonces.append(named.get("nonce"))
        self.unallowable += [f"<{tag} {name}>" for name, _ in attrs if name == "style"]
        self.unallowable += [f"<{tag} {name}>" for name, _ in attrs if name.startswith("on")]


def inline_code(response) -> InlineCode:
    parser = InlineCode()
    parser.feed(response.content.decode())
    return parser


# --- Content-Security-Policy --------------------------------------------------------------


@pytest.mark.django_db
def test_policy_is_self_only_with_nonces_and_no_unsafe_inline_script(signed_in):
    response = signed_in("ops").get("/dashboard/")
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'" and len(policy["script-src"]) == 2
    assert policy["style-src"] == ["'self'", f"'nonce-{header_nonce(response)}'"]
    assert not any("unsafe-inline" in s or "unsafe-eval" in s for s in policy["script-src"])
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_nonce_is_new_per_request_and_is_the_one_in_the_page(signed_in):
    client = signed_in("ops")
    seen = set()
    for path in [*PAGES, PAGES[0]]:
        response = client.get(path, {"range": "24h"})
        assert response.status_code == 200, path
        nonce = header_nonce(response)
        code = inline_code(response)
        # base.html's style and _filters.html's script (the alerts page has no filters).
        assert len(code.nonces) >= (1 if path.endswith("alerts/") else 2), path
        assert set(code.nonces) == {nonce}, path
        assert code.unallowable == [], path
        seen.add(nonce)
    assert len(seen) == len(PAGES) + 1  # the same page asked twice got two nonces


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/api/docs/", "/admin/"])
def test_sign_in_docs_and_admin_pages_carry_the_headers_nonce(signed_in, path):
    client = signed_in("admin") if path != "/accounts/login/" else Client()
    response = client.get(path)
    assert response.status_code == 200
    code = inline_code(response)
    if path != "/admin/":  # the admin index has no inline code at all
        assert code.nonces and set(code.nonces) == {header_nonce(response)}
    assert None not in code.nonces
    assert code.unallowable == []


@pytest.mark.django_db
def test_only_the_api_docs_allow_data_images(signed_in):
    client = signed_in("admin")
    assert directives(client.get("/api/docs/"))["img-src"] == ["'self'", "data:"]
    assert "img-src" not in directives(client.get("/dashboard/"))  # default-src 'self'


def test_the_history_list_style_hash_is_the_installed_templates_only_style_attribute(settings):
    """The one hash in style-src-attr must match what django-simple-history renders."""
    import base64
    import hashlib

    import simple_history

    template = Path(simple_history.__file__).parent / "templates/simple_history"
    styles = re.findall(r'style="([^"]*)"', (template / "object_history_list.html").read_text())
    allowed = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src-attr"]
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"
        for style in styles
    ]
    assert styles == ["border-top: 0"]
    assert allowed == ["'unsafe-hashes'", *hashes]


# --- Cache-Control ------------------------------------------------------------------------


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/dashboard/cost/",
        "/dashboard/cost.csv?range=24h",
        "/dashboard/alerts/",
        "/api/v1/metrics/summary",
        "/api/v1/metrics/models?format=csv",
        "/api/v1/metrics/summary?from=yesterday",  # a 400
        "/api/schema/",
        "/admin/",
        "/admin/governance/project/",
    ],
)
def test_signed_in_pages_csv_and_api_answers_are_not_stored(signed_in, path):
    response = signed_in("admin").get(path)
    assert response.status_code in (200, 400), (path, response.status_code)
    assert no_store(response), (path, response.get("Cache-Control"))


@pytest.mark.django_db
def test_csv_exports_are_not_stored(signed_in):
    client = signed_in("finance")
    export = client.get("/dashboard/cost.csv", {"range": "24h"})
    api_csv = client.get("/api/v1/metrics/summary", {"format": "csv"})
    for response in (export, api_csv):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_ingest_answers_and_errors_are_not_stored(post_batch, monkeypatch):
    accepted = post_batch([routing_event()])
    refused = post_batch(body=b"not json")
    unknown_key = post_batch([routing_event()], key="tg_not-a-key")

    def storage_lost(**kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr("ingestion.api.views.events_ingest", storage_lost)
    unavailable = post_batch([routing_event()])  # DatabaseUnavailableMiddleware's 503
    answers = [accepted, refused, unknown_key, unavailable]
    assert [answer.status_code for answer in answers] == [200, 400, 401, 503]
    for answer in answers:
        assert answer["Cache-Control"] == "no-store", answer.status_code


@pytest.mark.django_db
def test_anonymous_answers_are_not_stored_either(client):
    for path in ("/accounts/login/", "/api/v1/metrics/summary", "/metrics", "/nowhere"):
        response = client.get(path)
        assert no_store(response), (path, response.status_code)


@pytest.mark.django_db
def test_static_assets_keep_their_cache_headers(client):
    response = client.get("/static/dashboard/favicon.svg")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "max-age" in response["Cache-Control"]


# --- Sessions -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_session_lasts_twelve_hours(organization):
    user_create(organization=organization, username="olivia", role="ops", password=PASSWORD)
    response = Client().post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    assert response.cookies["sessionid"]["max-age"] == 12 * 3600


# --- Production settings under environment variables ---------------------------------------

PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
request = RequestFactory().get("/", secure=True)
answer = SecurityMiddleware(lambda request: HttpResponse())(request)
print(json.dumps({
    "hsts": answer.get("Strict-Transport-Security"),
    "session_age": settings.SESSION_COOKIE_AGE,
}))
"""


def production_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/unused",  # never connected to
        "SECRET_KEY": "production-like-" + "s3cr3t" * 10,
        "ALLOWED_HOSTS": "tollgate.example.com",
        "DJANGO_SETTINGS_MODULE": "tollgate.settings",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    for name in ("SECURE_HSTS_PRELOAD", "SESSION_COOKIE_AGE", "DEBUG", "SECURE_SSL_REDIRECT"):
        if name not in extra:
            env.pop(name, None)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def production_probe(**extra: str) -> dict:
    completed = run(["-c", PROBE], production_env(**extra))
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_production_hsts_has_no_preload_unless_asked():
    assert production_probe()["hsts"] == "max-age=31536000; includeSubDomains"
    asked = production_probe(SECURE_HSTS_PRELOAD="true")["hsts"]
    assert asked == "max-age=31536000; includeSubDomains; preload"


def test_production_sessions_last_twelve_hours_unless_configured():
    assert production_probe()["session_age"] == 12 * 3600
    assert production_probe(SESSION_COOKIE_AGE="3600")["session_age"] == 3600


@pytest.mark.parametrize("preload", ["false", "true"])
def test_check_deploy_is_clean_with_or_without_preload(preload):
    completed = run(
        [str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        production_env(SECURE_HSTS_PRELOAD=preload),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout

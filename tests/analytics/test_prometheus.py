"""GET /metrics: token or loopback access, a strictly valid 0.0.4 exposition (OpenMetrics when
asked), the same samples as the hand-written renderer answered before prometheus_client,
figures equal to the metrics API and budget status for the same data, cumulative histogram
buckets, names that need escaping read back exactly, and labels that stay few whatever the
traffic."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from analytics.exporters.prometheus import (
    LATENCY_BOUNDS_MS,
    UNLISTED_MODEL,
    WINDOW,
    metrics_collect,
)
from analytics.metrics.budgets import budget_status
from analytics.metrics.window import Window
from analytics.models import Alert, AlertState
from analytics.rollups.job import rollups_advance
from governance.matrix import matrix_load
from governance.models import AlertRule, Budget
from governance.services import (
    api_key_create,
    organization_create,
    project_create,
    service_create,
)
from tests.conftest import enforcement_event, reference_matrix, routing_event

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TOKEN = "metrics-token-for-tests-0123456789"
LISTED_MODELS = {"gpt-5.4", "claude-opus-4.6", "gemini-3.1-pro"}
ALLOWED_LABELS = {"organization", "project", "model", "layer", "budget", "period", "kind"}
ALLOWED_LABELS |= {"severity", "le"}


# --- A strict reader of the text format, independent of the library that writes it -------

SAMPLE_LINE = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^\n]*)\})? (?P<value>\S+)"
)
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    raw: str

    @property
    def value(self) -> float:
        return float(self.raw)


@dataclass
class Family:
    kind: str
    help: str
    samples: list[Sample]


def parse(text: str) -> dict[str, Family]:
    """Families by name; fails on any line the 0.0.4 format does not allow."""
    assert text.endswith("\n")
    families: dict[str, Family] = {}
    current = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            current, _, help_text = line[len("# HELP ") :].partition(" ")
            assert current not in families, f"{current} declared twice"
            families[current] = Family(kind="", help=help_text, samples=[])
        elif line.startswith("# TYPE "):
            name, kind = line[len("# TYPE ") :].split(" ")
            assert name == current and not families[name].kind
            assert kind in ("gauge", "histogram")
            families[name].kind = kind
        else:
            match = SAMPLE_LINE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            assert current is not None and families[current].kind
            family = families[current]
            names = (
                {current}
                if family.kind == "gauge"
                else {f"{current}_bucket", f"{current}_sum", f"{current}_count"}
            )
            assert match["name"] in names, line
            float(match["value"])  # a Go float: digits, NaN, +Inf
            family.samples.append(
                Sample(match["name"], _labels(match["labels"] or ""), match["value"])
            )
    return families


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = LABEL_PAIR.match(text, position)
        assert match, f"bad labels: {text!r}"
        assert match[1] not in labels
        labels[match[1]] = re.sub(r'\\[\\"n]', lambda m: UNESCAPE[m[0]], match[2])
        position = match.end()
    return labels


def only(families: dict[str, Family], name: str, **labels: str) -> Sample:
    """The one sample of `name` whose labels include these."""
    family = families[name.removesuffix("_sum").removesuffix("_count").removesuffix("_bucket")]
    found = [
        sample
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


# --- Fixtures -----------------------------------------------------------------------------


@pytest.fixture
def now():
    return timezone.now().replace(second=30, microsecond=0) - timedelta(minutes=1)


@pytest.fixture
def scrape(monkeypatch, settings, now):
    """GET /metrics from loopback with no token configured, as of `now`; parsed families."""
    settings.TOLLGATE_METRICS_TOKEN = ""
    settings.TOLLGATE_METRICS_LOOPBACK = True

    def get() -> dict[str, Family]:
        with monkeypatch.context() as patch:
            patch.setattr(timezone, "now", lambda: now)  # the window the test computes
            response = Client().get("/metrics")
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == CONTENT_TYPE
        return parse(response.content.decode())

    return get


@pytest.fixture
def scrape_text(monkeypatch, settings, now):
    """GET /metrics from loopback as of `now` (the fixture), with an Accept header;
    the body as text, once the content type is checked against `expect`."""
    settings.TOLLGATE_METRICS_TOKEN = ""
    settings.TOLLGATE_METRICS_LOOPBACK = True

    def get(accept: str = "", expect: str = CONTENT_TYPE) -> str:
        with monkeypatch.context() as patch:
            patch.setattr(timezone, "now", lambda: now)
            response = Client().get("/metrics", HTTP_ACCEPT=accept)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == expect
        return response.content.decode()

    return get


@pytest.fixture
def globex():
    """A second tenant with its own project, service and ingest key."""
    project = project_create(organization=organization_create(name="globex"), name="secret")
    matrix_load(project=project, document=reference_matrix())
    service = service_create(project=project, name="gateway")
    return project, api_key_create(project=project, service=service, scope="ingest")[1]


def _at(now, minutes_ago: int = 2) -> str:
    return (now - timedelta(minutes=minutes_ago)).isoformat()


def _post(post_batch, events: list[dict[str, Any]], key: str | None = None) -> None:
    answer = post_batch(events, key=key).json()
    assert answer["rejected"] == 0, answer
    rollups_advance(max_seconds=float("inf"))


def _traffic(now) -> list[dict[str, Any]]:
    """Ten attempts over three listed and two unlisted models, an error, two blocked requests
    (one never reached a model), a modified one, and an escaped violation."""
    events = []
    calls = [("gpt-5.4", 120.0)] * 5 + [("claude-opus-4.6", 310.0)] * 3
    calls += [("mystery-1", 90.0), ("mystery-2", 95.0)]
    for index, (model, latency) in enumerate(calls):
        request_id = f"acme-{index}"
        events.append(
            routing_event(
                request_id=request_id,
                timestamp=_at(now),
                model=model,
                latency_ms=latency,
                status="error" if index == 0 else "ok",
            )
        )
        verdict = "block" if index == 1 else "modify" if index == 2 else "allow"
        events.append(enforcement_event(request_id=request_id, timestamp=_at(now), verdict=verdict))
    events.append(
        enforcement_event(request_id="acme-blocked-early", timestamp=_at(now), verdict="block")
    )
    events.append(
        enforcement_event(
            request_id="acme-3",
            timestamp=_at(now),
            layer="review",
            verdict="flag",
            violation="pii",
            severity="high",
        )
    )
    return events


# --- Access -------------------------------------------------------------------------------


@pytest.mark.django_db
class TestAccess:
    def test_a_configured_token_is_required_and_compared(self, settings):
        settings.TOLLGATE_METRICS_TOKEN = TOKEN
        client = Client()
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing["WWW-Authenticate"].startswith("Bearer")
        assert missing["Content-Type"].startswith("text/plain")
        assert b"Authorization: Bearer" in missing.content
        for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer ", "Bearer caf\u00e9"):
            refused = client.get("/metrics", HTTP_AUTHORIZATION=header)
            assert refused.status_code == 401, header
        # With a token, where the scraper runs does not matter.
        accepted = client.get(
            "/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}", REMOTE_ADDR="10.1.2.3"
        )
        assert accepted.status_code == 200
        assert accepted["Content-Type"] == CONTENT_TYPE
        assert "no-cache" in accepted["Cache-Control"] or "max-age=0" in accepted["Cache-Control"]
        assert "tollgate_window_seconds 300" in accepted.content.decode()

    @pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
    def test_without_a_token_loopback_is_served(self, settings, address):
        settings.TOLLGATE_METRICS_TOKEN = ""
        settings.TOLLGATE_METRICS_LOOPBACK = True
        assert Client().get("/metrics", REMOTE_ADDR=address).status_code == 200

    @pytest.mark.parametrize(
        ("address", "headers"),
        [
            ("10.0.0.5", {}),
            ("2001:db8::1", {}),
            ("not-an-address", {}),
            ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}),  # a proxy on this host
            ("127.0.0.1", {"HTTP_FORWARDED": "for=203.0.113.9"}),
        ],
    )
    def test_without_a_token_anyone_else_is_403(self, settings, address, headers):
        settings.TOLLGATE_METRICS_TOKEN = ""
        settings.TOLLGATE_METRICS_LOOPBACK = True
        refused = Client().get("/metrics", REMOTE_ADDR=address, **headers)
        assert refused.status_code == 403
        assert b"TOLLGATE_METRICS_TOKEN" in refused.content
        assert refused["Content-Type"].startswith("text/plain")

    def test_production_without_a_token_serves_nobody(self, settings):
        settings.TOLLGATE_METRICS_TOKEN = ""
        settings.TOLLGATE_METRICS_LOOPBACK = False  # production's default
        refused = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
        assert refused.status_code == 403
        assert b"TOLLGATE_METRICS_TOKEN" in refused.content

    def test_only_reads_are_allowed(self, settings):
        settings.TOLLGATE_METRICS_TOKEN = ""
        settings.TOLLGATE_METRICS_LOOPBACK = True
        assert Client().post("/metrics").status_code == 405


# --- The text format ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "expect"),
    [
        ("", CONTENT_TYPE),
        ("*/*", CONTENT_TYPE),
        ("text/plain", CONTENT_TYPE),
        ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", CONTENT_TYPE),
        ("application/openmetrics-text", OPENMETRICS),
        ("Application/OpenMetrics-Text; Version=1.0.0", OPENMETRICS),
        # What Prometheus 2 and 3 send.
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
            "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OPENMETRICS,
        ),
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
            "application/openmetrics-text;version=0.0.1;q=0.5,"
            "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
            "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            OPENMETRICS,
        ),
        # Versions we do not write, a refusal, and nonsense fall back to 0.0.4, never a 500.
        ("application/openmetrics-text;version=0.0.1", CONTENT_TYPE),
        ("application/openmetrics-text;version=2.0.0", CONTENT_TYPE),
        ("application/openmetrics-text;q=0", CONTENT_TYPE),
        ("application/openmetrics-text;version=abc", CONTENT_TYPE),
        ("text/plain;version=abc", CONTENT_TYPE),
        ("text/plain;version=1.0.0;escaping=dots", CONTENT_TYPE),
        ("application/openmetrics-text;version=1.0.0;escaping=dots;q=x", OPENMETRICS),
        (";;,=,;version", CONTENT_TYPE),
    ],
)
def test_the_format_follows_the_accept_header(scrape_text, accept, expect):
    text = scrape_text(accept, expect=expect)
    if expect.startswith("application/openmetrics-text"):
        assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
        families = {family.name: family for family in openmetrics_families(text)}
    else:
        assert "# EOF" not in text
        families = {family.name: family for family in text_string_to_metric_families(text)}
    window = families["tollgate_window_seconds"]
    assert window.type == "gauge" and "trailing window" in window.documentation
    assert [sample.value for sample in window.samples] == [300]


@pytest.mark.django_db
def test_names_that_need_escaping_read_back_exactly(organization, project, scrape_text):
    """Organization, project and budget names are user data: quotes, backslashes, newlines
    (even one that would start a "# EOF" line), braces and commas stay inside their label."""
    hostile = 'a "quoted" \\ name\n# EOF\n} , x="y" caf\u00e9'
    tenant = organization_create(name=f"org {hostile}")
    target = project_create(organization=tenant, name=f"project {hostile}")
    Budget.objects.create(
        organization=tenant,
        project=target,
        name=f"budget {hostile}",
        period="day",
        amount_usd=Decimal("12.50"),
    )
    expected = {
        "organization": f"org {hostile}",
        "project": f"project {hostile}",
        "budget": f"budget {hostile}",
        "period": "day",
    }
    text = scrape_text()
    strict = parse(text)  # every line a valid sample or comment: no newline got through
    assert only(strict, "tollgate_requests", organization=f"org {hostile}").labels == {
        "organization": f"org {hostile}",
        "project": f"project {hostile}",
    }
    assert only(strict, "tollgate_budget_amount_usd", **expected).value == 12.5

    text = scrape_text("application/openmetrics-text", expect=OPENMETRICS)
    assert text.endswith("\n# EOF\n") and text.count("\n# EOF\n") == 1
    amounts = {family.name: family for family in openmetrics_families(text)}[
        "tollgate_budget_amount_usd"
    ].samples
    assert [(sample.labels, sample.value) for sample in amounts] == [(expected, 12.5)]


# --- Figures ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_figures_equal_the_metrics_api_per_organization(
    post_batch, project, organization, globex, scrape, now
):
    _post(post_batch, _traffic(now))
    _, globex_key = globex
    other = [
        routing_event(request_id=f"globex-{i}", timestamp=_at(now), model="gemini-3.1-pro")
        for i in range(4)
    ]
    other.append(enforcement_event(request_id="globex-0", timestamp=_at(now), verdict="block"))
    _post(post_batch, other, key=globex_key)
    families = scrape()

    window = Window.of(now - WINDOW, now)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=project, scope='read')[1]}"
    )
    params = {"from": window.start.isoformat(), "to": window.end.isoformat()}
    summary = client.get("/api/v1/metrics/summary", params).json()
    acme = {"organization": "acme", "project": "support"}

    assert summary["requests"] == 11
    assert only(families, "tollgate_requests", **acme).value == summary["requests"]
    costs = [s for s in families["tollgate_cost_usd"].samples if s.labels["organization"] == "acme"]
    assert sum(Decimal(s.raw) for s in costs) == Decimal(summary["cost_usd"]) > 0
    for name, key in [
        ("tollgate_interception_rate", "interception_rate"),
        ("tollgate_violation_rate", "violation_rate"),
        ("tollgate_detected_violation_rate", "detected_violation_rate"),
        ("tollgate_availability", "availability"),
    ]:
        assert only(families, name, **acme).value == summary[key] > 0, name
    unpriced = only(families, "tollgate_unpriced_attempts", **acme, model=UNLISTED_MODEL)
    assert unpriced.value == summary["unpriced_attempts"] == 2

    models = client.get("/api/v1/metrics/models", params).json()["rows"]
    for row in (row for row in models if row["model"] in LISTED_MODELS):
        model = row["model"]
        assert only(families, "tollgate_attempts", **acme, model=model).value == row["attempts"]
        assert only(families, "tollgate_error_rate", **acme, model=model).value == row["error_rate"]
        assert Decimal(only(families, "tollgate_cost_usd", **acme, model=model).raw) == Decimal(
            row["cost_usd"]
        )
    unlisted = sum(row["attempts"] for row in models if row["model"] not in LISTED_MODELS)
    assert only(families, "tollgate_attempts", **acme, model=UNLISTED_MODEL).value == unlisted == 2

    layers = client.get("/api/v1/metrics/layers", params).json()["rows"]
    for row in layers:
        if not row["checks"]:
            continue
        series = {**acme, "layer": row["layer"]}
        assert only(families, "tollgate_layer_checks", **series).value == row["checks"]
        assert (
            only(families, "tollgate_layer_interception_rate", **series).value
            == row["interception_rate"]
        )

    # The other tenant's figures are its own, under its own label.
    secret = {"organization": "globex", "project": "secret"}
    assert only(families, "tollgate_requests", **secret).value == 4
    assert only(families, "tollgate_interception_rate", **secret).value == 0.25
    assert only(families, "tollgate_attempts", **secret, model="gemini-3.1-pro").value == 4


@pytest.mark.django_db(transaction=True)
def test_latency_histogram_buckets_are_cumulative_and_inf_is_the_count(
    post_batch, project, scrape, now
):
    latencies = [30.0, 80.0, 120.0, 180.0, 260.0, 400.0, 900.0, 1500.0, 4000.0, 12000.0]
    _post(post_batch, [routing_event(timestamp=_at(now), latency_ms=v) for v in latencies])
    families = scrape()
    assert families["tollgate_latency_ms"].kind == "histogram"
    series = {"organization": "acme", "project": "support", "model": "gpt-5.4"}
    buckets = [
        s
        for s in families["tollgate_latency_ms"].samples
        if s.name == "tollgate_latency_ms_bucket"
        and all(s.labels[k] == v for k, v in series.items())
    ]
    bounds = [float(s.labels["le"]) for s in buckets]
    assert bounds == [*map(float, LATENCY_BOUNDS_MS), math.inf]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts)  # cumulative
    for bound, count in zip(bounds, counts, strict=True):
        # Every value sits well over 1% from a bound, so the sketch's counts are exact.
        assert count == sum(value <= bound for value in latencies), bound
    assert counts[-1] == only(families, "tollgate_latency_ms_count", **series).value == 10
    assert only(families, "tollgate_latency_ms_sum", **series).value == sum(latencies)


@pytest.mark.django_db(transaction=True)
def test_labels_stay_few_whatever_the_traffic(post_batch, project, scrape, now):
    events = _traffic(now)
    events += [
        routing_event(timestamp=_at(now), model=f"rogue-{index}", request_id=f"rogue-req-{index}")
        for index in range(20)
    ]
    _post(post_batch, events)
    families = scrape()
    request_ids = {event["request_id"] for event in events}
    samples = [sample for family in families.values() for sample in family.samples]
    assert samples
    for sample in samples:
        assert set(sample.labels) <= ALLOWED_LABELS, sample
        assert not set(sample.labels.values()) & request_ids, sample
    models = {s.labels["model"] for s in families["tollgate_attempts"].samples}
    assert models == {"gpt-5.4", "claude-opus-4.6", UNLISTED_MODEL}  # 22 names, 3 series
    unlisted = only(families, "tollgate_attempts", model=UNLISTED_MODEL)
    assert unlisted.value == 22


@pytest.mark.django_db(transaction=True)
def test_budget_figures_equal_budget_status(
    post_batch, project, service, organization, scrape, now
):
    _post(post_batch, _traffic(now))
    scopes = [
        ("daily", "project", "", "day", "1.00"),
        ("gpt", "model", "gpt-5.4", "month", "0.05"),
        ("router", "service", "router", "week", "10"),
        ("company", "organization", "", "quarter", "500"),
    ]
    budgets = [
        Budget.objects.create(
            organization=organization,
            project=None if kind == "organization" else project,
            name=name,
            scope_kind=kind,
            scope_name=scope_name,
            period=period,
            amount_usd=Decimal(amount),
        )
        for name, kind, scope_name, period, amount in scopes
    ]
    Budget.objects.create(  # inactive budgets are not exposed
        organization=organization,
        project=project,
        name="old",
        period="day",
        amount_usd=1,
        is_active=False,
    )
    families = scrape()
    for budget in budgets:
        status = budget_status(budget, now)
        series = {"budget": budget.name, "period": budget.period, "organization": "acme"}
        spent = Decimal(only(families, "tollgate_budget_spent_usd", **series).raw)
        assert spent == status.spent > 0, budget.name
        assert (
            Decimal(only(families, "tollgate_budget_amount_usd", **series).raw) == budget.amount_usd
        )
        forecast = Decimal(only(families, "tollgate_budget_forecast_usd", **series).raw)
        assert forecast == round(status.forecast, 8)
        burn = only(families, "tollgate_budget_burn_ratio", **series).value
        assert burn == round(float(status.spent / budget.amount_usd), 6)
    assert only(families, "tollgate_budget_spent_usd", budget="company").labels["project"] == ""
    names = {s.labels["budget"] for s in families["tollgate_budget_spent_usd"].samples}
    assert "old" not in names


@pytest.mark.django_db
def test_firing_alerts_are_counted_and_resolved_groups_read_zero(project, globex, scrape, now):
    def alert(target, name: str, kind: str, severity: str, state: str, scope="project"):
        rule, _ = AlertRule.objects.get_or_create(project=target, name=name, kind=kind)
        Alert.objects.create(
            rule=rule,
            project=target,
            organization=target.organization,
            kind=kind,
            scope=scope,
            severity=severity,
            state=state,
            summary=name,
            updated_at=now,
        )

    alert(project, "errors", "error_rate", "warning", AlertState.FIRING, "model:gpt-5.4")
    alert(project, "errors", "error_rate", "warning", AlertState.FIRING, "model:claude-opus-4.6")
    alert(project, "errors", "error_rate", "warning", AlertState.PENDING, "model:gemini-3.1-pro")
    alert(project, "blocks", "over_interception", "critical", AlertState.RESOLVED)
    alert(globex[0], "errors", "error_rate", "critical", AlertState.FIRING)
    families = scrape()
    acme = {"organization": "acme", "project": "support"}
    assert only(families, "tollgate_alerts_firing", **acme, kind="error_rate").value == 2
    resolved = only(families, "tollgate_alerts_firing", **acme, kind="over_interception")
    assert resolved.value == 0 and resolved.labels["severity"] == "critical"
    assert only(families, "tollgate_alerts_firing", organization="globex").value == 1


# --- The recorded exposition of the hand-written renderer ----------------------------------

RECORDED = Path(__file__).with_name("prometheus_recorded.txt")
# Families added since the recording (the recorded state has no samples of theirs).
ADDED_SINCE_RECORDED = {
    "tollgate_notifications_failed": (
        "gauge",
        "Emails that ran out of send attempts (outbox rows marked failed) and wait for an "
        "admin to send them again.",
    ),
}
HOSTILE = 'quote " back \\ slash\nnewline {brace}=1, comma'


def _recorded_state(post_batch, project, organization, now) -> None:
    """A state whose every figure is fixed whatever the clock: traffic inside the window, budgets
    that spent nothing (so no run rate or forecast), alerts; with names that need escaping."""
    _post(post_batch, _traffic(now))
    hostile_org = organization_create(name=f"org {HOSTILE}")
    hostile = project_create(organization=hostile_org, name=f"project {HOSTILE}")
    matrix = reference_matrix()
    matrix["models"].append({**matrix["models"][0], "name": f"model {HOSTILE}"})
    matrix_load(project=hostile, document=matrix)
    key = api_key_create(
        project=hostile, service=service_create(project=hostile, name="gateway"), scope="ingest"
    )[1]
    events = [
        routing_event(timestamp=_at(now), model=f"model {HOSTILE}", latency_ms=latency)
        for latency in (40.0, 70.0, 2500.0)
    ]
    events.append(enforcement_event(request_id=events[0]["request_id"], timestamp=_at(now)))
    _post(post_batch, events, key=key)
    for target, name, model in [
        (project, "gemini", "gemini-3.1-pro"),
        (hostile, f"budget {HOSTILE}", "claude-opus-4.6"),
    ]:
        Budget.objects.create(
            organization=target.organization,
            project=target,
            name=name,
            scope_kind="model",
            scope_name=model,  # no traffic: spent, run rate and forecast are 0 at any time
            period="month",
            amount_usd=Decimal("25.50"),
        )
    for target, kind, severity, state in [
        (project, "error_rate", "warning", AlertState.FIRING),
        (project, "over_interception", "critical", AlertState.RESOLVED),
        (hostile, "budget", "critical", AlertState.FIRING),
    ]:
        rule, _ = AlertRule.objects.get_or_create(project=target, name=kind, kind=kind)
        Alert.objects.create(
            rule=rule,
            project=target,
            organization=target.organization,
            kind=kind,
            scope="project",
            severity=severity,
            state=state,
            summary=kind,
            updated_at=now,
        )


def _sample_set(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """(sample name, labels, value) of every sample, as prometheus_client's parser reads them."""
    return {
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.django_db(transaction=True)
def test_the_exposition_equals_the_recorded_hand_written_one(
    post_batch, project, organization, scrape_text, now
):
    """prometheus_recorded.txt is what the hand-written renderer (before prometheus_client)
    answered for this state: the same samples, names, labels and values must come back."""
    _recorded_state(post_batch, project, organization, now)  # the moment scrape_text reads at
    text = scrape_text()
    recorded = _sample_set(RECORDED.read_text())
    assert len(recorded) > 100
    assert any(HOSTILE in dict(labels).get("project", "") for _, labels, _ in recorded)
    assert _sample_set(text) == recorded

    # The same HELP text and type per family.
    def kinds(text: str) -> dict[str, tuple[str, str]]:
        return {
            family.name: (family.type, family.documentation)
            for family in text_string_to_metric_families(text)
        }

    assert kinds(text) == {**kinds(RECORDED.read_text()), **ADDED_SINCE_RECORDED}

    # OpenMetrics carries the same samples, as the stricter OpenMetrics parser reads them.
    openmetrics = scrape_text("application/openmetrics-text", expect=OPENMETRICS)
    assert {
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in openmetrics_families(openmetrics)
        for sample in family.samples
    } == recorded


@pytest.mark.django_db(transaction=True)
def test_query_count_does_not_grow_with_projects_models_or_budgets(
    post_batch, project, organization, globex, now
):
    _post(post_batch, _traffic(now))

    def budgets(target, suffix: str) -> None:
        for period in ("day", "week", "month", "quarter"):
            Budget.objects.create(
                organization=target.organization,
                project=target,
                name=f"{period}-{suffix}",
                scope_kind="service" if period == "week" else "project",
                scope_name="router" if period == "week" else "",
                period=period,
                amount_usd=Decimal(10),
            )

    budgets(project, "a")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            families = metrics_collect(now=now)
        assert families
        return len(captured)

    few = queries()
    # Projects, matrix, three rollup families, budgets, services, alerts, failed emails, and
    # a spend read per budget window: four periods so far and the trailing run-rate week.
    assert few <= 14
    budgets(project, "b")
    budgets(globex[0], "c")
    for index in range(3):
        extra = project_create(organization=organization, name=f"extra-{index}")
        budgets(extra, "d")
    assert queries() == few


@pytest.mark.django_db
def test_the_view_reads_in_a_bounded_number_of_queries(
    organization, project, globex, scrape_text, django_assert_max_num_queries
):
    for index in range(3):
        Budget.objects.create(
            organization=organization,
            project=project,
            name=f"budget-{index}",
            period="month",
            amount_usd=Decimal(10),
        )
    for accept in ("", "application/openmetrics-text"):
        with django_assert_max_num_queries(13):
            scrape_text(accept, expect=OPENMETRICS if accept else CONTENT_TYPE)

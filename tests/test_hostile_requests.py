"""No query string or path id gives a 5xx, on any URL of the site, for any caller.

The URL resolver is walked, so every pattern is driven (the API, the dashboard, the admin's
changelists, change, delete and history views of every registered model, and whatever is added
later): first once each with well-formed ids and a hostile query string, which also proves the
walk missed nothing, then by hypothesis with hostile query strings (NUL, over-long values,
digits of other scripts, huge integers, impossible dates, repeated parameters, SQL-ish text)
and hostile path ids. Each caller is tried: anonymous, a member of each role, a superuser, and
for the API an API key of each scope.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import DateField, Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import Alert, Notification, Repricing
from governance.models import AlertRule, Budget
from governance.services import api_key_create, user_create

pytestmark = pytest.mark.django_db

# --- The URL patterns ---------------------------------------------------------------------

SLOT_IN_ROUTE = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
GROUP_IN_REGEX = re.compile(r"\((?:\?P<(?P<name>\w+)>)?(?P<body>[^()]*)\)")


@dataclass(frozen=True)
class Slot:
    """A variable part of a URL pattern: its name (or position) and, for a regex group of
    fixed alternatives, the alternatives."""

    name: str
    converter: str = "str"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pattern:
    """One leaf of the URL tree, as a template whose slots take values."""

    key: str  # the joined pattern, as ResolverMatch.route spells it
    pieces: tuple[str | Slot, ...]
    name: str

    @property
    def slots(self) -> list[Slot]:
        return [piece for piece in self.pieces if isinstance(piece, Slot)]

    def url(self, values: dict[str, str]) -> str:
        """The path with each slot's value percent-encoded (a NUL travels as %00)."""
        return "/" + "".join(
            quote(values[piece.name], safe="") if isinstance(piece, Slot) else piece
            for piece in self.pieces
        )


def _route_pieces(route: str) -> list[str | Slot]:
    pieces: list[str | Slot] = []
    position = 0
    for match in SLOT_IN_ROUTE.finditer(route):
        pieces.append(route[position : match.start()])
        pieces.append(Slot(match.group("name"), match.group("converter") or "str"))
        position = match.end()
    pieces.append(route[position:])
    return pieces


def _regex_pieces(regex: str) -> list[str | Slot]:
    regex = regex.removeprefix("^").removesuffix("$")
    pieces: list[str | Slot] = []
    position = 0
    for index, match in enumerate(GROUP_IN_REGEX.finditer(regex)):
        pieces.append(regex[position : match.start()])
        body = match.group("body")
        choices = tuple(body.split("|")) if re.fullmatch(r"[\w|]+", body) else ()
        pieces.append(Slot(match.group("name") or f"group{index}", "regex", choices))
        position = match.end()
    pieces.append(regex[position:])
    if any(isinstance(piece, str) and re.search(r"[\\^$*+?\[\]{}()|]", piece) for piece in pieces):
        raise AssertionError(f"a URL regex this walker cannot fill: {regex!r}")
    return pieces


def _walk(resolver: URLResolver, prefix: tuple[Any, ...]) -> Iterator[Pattern]:
    for entry in resolver.url_patterns:
        parts = (*prefix, entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, parts)
            continue
        assert isinstance(entry, URLPattern)
        pieces: list[str | Slot] = []
        for part in parts:
            if isinstance(part, RoutePattern):
                pieces += _route_pieces(str(part))
            elif isinstance(part, RegexPattern):
                pieces += _regex_pieces(str(part))
            else:
                raise AssertionError(f"an unknown kind of URL pattern: {part!r}")
        yield Pattern(
            key="".join(str(part).removeprefix("^") for part in parts),  # as Django joins
            pieces=tuple(piece for piece in pieces if piece != ""),
            name=entry.name or "",
        )


PATTERNS = tuple(_walk(get_resolver(), ()))


def _admin_prefix(model: Any) -> str:
    return f"admin/{model._meta.app_label}/{model._meta.model_name}/"


def _admin_model(pattern: Pattern) -> Any:
    """The model an admin pattern is about, or None."""
    for model in admin.site._registry:
        if pattern.key.startswith(_admin_prefix(model)):
            return model
    return None


# --- Query parameters and hostile values --------------------------------------------------

# What the views read: the API's and the dashboard's parameters, the admin's own, and each
# changelist's lookups (its list filters and date hierarchy).
SITE_PARAMETERS = (
    *("range", "from", "to", "project", "service", "model", "mode", "environment", "format"),
    *("metric", "interval", "group_by", "alert", "state", "kind", "severity", "next", "until"),
)
ADMIN_PARAMETERS = ("_to_field", "_popup", "_changelist_filters", "next")
AUTOCOMPLETE_PARAMETERS = ("app_label", "model_name", "field_name", "term", "page")
CHANGELIST_PARAMETERS = ("q", "o", "p", "e", "all", "_to_field", "_popup", "_facets")
LOOKUP_SUFFIXES = ("", "__exact", "__id__exact", "__isnull", "__in")
DATE_SUFFIXES = ("__year", "__month", "__day", "__gte", "__lt", "__isnull", "__isempty")


def _lookups(model: Any) -> tuple[str, ...]:
    """The lookups an admin changelist reads: its list filters and date hierarchy."""
    model_admin = admin.site._registry[model]
    paths = [
        entry[0] if isinstance(entry, tuple | list) else entry for entry in model_admin.list_filter
    ]
    names: list[str] = []
    for path in (*paths, model_admin.date_hierarchy):
        if isinstance(path, str):
            field = get_fields_from_path(model, path)[-1]
            is_date = isinstance(field, DateField)  # DateTimeField is one too
            names += [path + suffix for suffix in DATE_SUFFIXES if is_date]
            names += [path + suffix for suffix in LOOKUP_SUFFIXES if not is_date]
    return tuple(dict.fromkeys(names))


def parameters_of(pattern: Pattern) -> tuple[str, ...]:
    """The query parameters the pattern's view reads (or may read)."""
    if not pattern.key.startswith("admin/"):
        return SITE_PARAMETERS
    if pattern.name == "autocomplete":
        return AUTOCOMPLETE_PARAMETERS
    model = _admin_model(pattern)
    if model is not None and pattern.key == _admin_prefix(model):  # a changelist
        return CHANGELIST_PARAMETERS + _lookups(model)
    return ADMIN_PARAMETERS


def killer_value(name: str) -> str:
    """A value a view reading `name` is most likely to choke on (past the query guard)."""
    if name == "_to_field":  # Django's admin looked up a field named "": a 500
        return ""
    if name.endswith(("__year", "__month", "__day")) or name in ("p", "page", "alert"):
        return "99999999999999999999"
    if name in ("from", "to", "until") or name.endswith(("__gte", "__lt")):
        return "99999-12-31T23:59:59+00:00"
    return ARABIC_12


ARABIC_12 = "\u0661\u0662"  # what int(), float() and Decimal() read as 12
HOSTILE_VALUES = (
    *("\x00", "a\x00b", "\x01", "\x1b[2J", "x" * 1001, "x" * 1000, "y" * 999),
    # Digits of other scripts: Arabic-Indic 12, superscript 2, Persian 123, fullwidth 12, and
    # an Arabic-Indic date.
    *(ARABIC_12, "\u00b2", "\u06f1\u06f2\u06f3", "\uff11\uff12"),
    "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661T00:00:00Z",
    *("9" * 20, "99999999999999999999", "-9223372036854775809", "2147483648", "-1", "0"),
    *("1e999", "NaN", "-inf", "1.5", "0x1F", "1_000"),
    *("2026-13-45", "99999-01-01T00:00:00Z", "0000-00-00", "9999-12-31T23:59:59+00:00"),
    *("0001-01-01T00:00:00-23:59", "2026-02-30", "2026-11-25T10:00:00", "9999", "10000"),
    *("'; DROP TABLE governance_project; --", "' OR '1'='1", "%", "_", "\\", "%00", "%%"),
    *("true", "false", "", " ", "🙂", "<script>alert(1)</script>", "../../etc/passwd"),
    *("support", "acme", "gpt-5.4", "hybrid", "csv", "json", "custom", "24h", "firing"),
    *("cost_usd", "latency_p95_ms", "hour", "model", "admin", "http://evil.example/"),
)
GUARD_PASSING_VALUES = tuple(
    value for value in HOSTILE_VALUES if "\x00" not in value and len(value) <= 1000
)
HOSTILE_IDS = (
    *("abc", "\x00", "1\x00", "\x7f", "9" * 19, "9" * 30, "9" * 250, "a" * 201, "-1", "0"),
    *(ARABIC_12, "\u00b2", "1.5", "1e3", "%", "%00", "' OR 1=1 --", " ", "_5F", "1;2", "..", "."),
)

hostile_values = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=12),
)


@st.composite
def query_strings(draw: st.DrawFn, pattern: Pattern) -> str:
    """Up to six parameters (names may repeat), named as the view reads them or anyhow."""
    names = st.one_of(st.sampled_from(parameters_of(pattern)), st.text(max_size=8))
    pairs = draw(st.lists(st.tuples(names, hostile_values), max_size=6))
    return urlencode(pairs)


# --- Who asks -----------------------------------------------------------------------------


@dataclass
class World:
    """A tenant with a row of every registered model, and a client per caller."""

    clients: dict[str, Client]
    ids: dict[type[Model] | str, str]  # model (or "default": the alert) -> a row's pk
    content_type_id: str

    def well_formed(self, pattern: Pattern) -> dict[str, str]:
        """Slot values that resolve to `pattern` and name real rows where they can."""
        model = _admin_model(pattern)
        values = {}
        for slot in pattern.slots:
            if slot.choices:
                values[slot.name] = slot.choices[-1]
            elif slot.name == "url":  # the admin's catch-all
                values[slot.name] = "no-such-page/"
            elif slot.name == "content_type_id":
                values[slot.name] = self.content_type_id
            elif model is not None and slot.name in ("object_id", "id", "group0"):
                values[slot.name] = self.ids[model]
            elif model is not None and slot.name == "group1":  # a history version
                history = model.history.filter(id=self.ids[model]).first()
                values[slot.name] = str(history.history_id) if history else "1"
            else:
                values[slot.name] = self.ids.get("default", "1")
        return values


# The models `world` makes a row of, so that their pages open a real one.
FIXTURE_MODELS = {
    *("auth.User", "auth.Group", "analytics.Alert", "analytics.Notification"),
    *("analytics.Repricing", "governance.Organization", "governance.Project"),
    *("governance.Service", "governance.MatrixModel", "governance.ModelPrice"),
    *("governance.ComplexityBand", "governance.Membership", "governance.ApiKey"),
    *("governance.Budget", "governance.AlertRule"),
}
ROLES = ("ops", "finance", "admin")
KEY_SCOPES = ("ingest", "read")
CALLERS = ("anonymous", *ROLES, "superuser", *(f"key:{scope}" for scope in KEY_SCOPES))


@pytest.fixture
def world(project, service) -> World:
    organization = project.organization
    clients = {"anonymous": Client()}
    for role in (*ROLES, "superuser"):
        user = user_create(
            organization=organization,
            username=role,
            role="admin" if role == "superuser" else role,
            password="pw-123-long-enough",
        )
        if role == "superuser":
            user.is_superuser = True
            user.save(update_fields=["is_superuser"])
        clients[role] = Client()
        clients[role].force_login(user)
    for scope in KEY_SCOPES:
        _, raw = api_key_create(
            project=project, scope=scope, service=service if scope == "ingest" else None
        )
        clients[f"key:{scope}"] = Client(headers={"Authorization": f"Bearer {raw}"})

    now = timezone.now()
    rule = AlertRule.objects.create(project=project, name="errors", kind="error_rate")
    alert = Alert.objects.create(
        rule=rule,
        project=project,
        organization=organization,
        kind=rule.kind,
        scope="project",
        severity="warning",
        state="firing",
        summary="errors",
        firing_since=now,
        pending_since=now,
        updated_at=now,
    )
    Budget.objects.create(
        organization=organization, project=project, name="monthly", period="month", amount_usd=10
    )
    Notification.objects.create(
        organization=organization,
        alert=alert,
        dedup_key="n-1",
        recipient="ops@example.com",
        subject="errors",
        body_text="",
        body_html="",
        next_attempt_at=now + timedelta(minutes=1),
        created_at=now,
    )
    Repricing.objects.create(project=project, reason="price fix")
    ids: dict[type[Model] | str, str] = {}
    for model in admin.site._registry:
        row = model._default_manager.order_by("pk").first()
        if row is None:  # a model added later, or another app's (axes' logs): id 1
            assert model._meta.label not in FIXTURE_MODELS, f"no {model.__name__} row to open"
            ids[model] = "1"
            continue
        if hasattr(model, "history") and not model.history.filter(id=row.pk).exists():
            row.save()  # bulk-created rows have no version yet: saving records one
        ids[model] = str(row.pk)
    ids["default"] = str(alert.pk)
    content_type = ContentType.objects.get_for_model(type(project))
    return World(clients=clients, ids=ids, content_type_id=str(content_type.pk))


def _callers_of(pattern: Pattern) -> tuple[str, ...]:
    # Keys authenticate on the API only; elsewhere they would be anonymous again.
    if pattern.key.startswith("api/"):
        return CALLERS
    return tuple(caller for caller in CALLERS if not caller.startswith("key:"))


@dataclass
class Answers:
    """What the requests of a test got: every status, and the requests that got a 5xx."""

    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.failures, f"{len(self.failures)} 5xx:\n" + "\n".join(self.failures[:40])


def _send(client: Client, method: str, url: str) -> tuple[int, str]:
    # In a savepoint, so a request whose query fails leaves the test's transaction usable.
    try:
        with transaction.atomic():
            response = getattr(client, method)(url)
    except Exception as exc:  # what the test client re-raises is a 500 to the caller
        return 500, f"{type(exc).__name__}: {exc}"[:160]
    return response.status_code, ""


def _ask(
    world: World, caller: str, pattern: Pattern, path: str, query: str, answers: Answers
) -> int:
    """GET the URL (and POST it when only POST is served) as `caller`, noting each status
    and each 5xx in `answers`; the last status."""
    url = f"{path}?{query}" if query else path
    status, error = _send(world.clients[caller], "get", url)
    tried = [("GET", status, error)]
    if status == 405 and not pattern.name.endswith("logout"):
        tried.append(("POST", *_send(world.clients[caller], "post", url)))
    for method, status, error in tried:
        answers.statuses.append(status)
        if status >= 500:
            answers.failures.append(f"{caller} {method} {url[:200]!r}: {status} {error}")
    return status


# --- Tests --------------------------------------------------------------------------------


def test_the_walk_finds_the_whole_site():
    """The walker sees the API, the dashboard and the admin's views of each model."""
    keys = {pattern.key for pattern in PATTERNS}
    assert "api/v1/alerts" in keys and "dashboard/cost.csv" in keys
    for model in admin.site._registry:
        prefix = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        for view in ("", "add/", "<path:object_id>/change/", "<path:object_id>/history/"):
            assert prefix + view in keys, prefix + view
    assert len(keys) == len(PATTERNS)  # one key per pattern, so counts compare patterns
    assert {model._meta.label for model in admin.site._registry} >= FIXTURE_MODELS


def test_every_pattern_answers_every_caller_without_a_5xx(world):
    """Each pattern, as each caller, with real ids: bare, and with every parameter it reads
    set to a hostile value that passes the query guard (so the view itself must cope)."""
    covered, answers = set(), Answers()
    values = itertools.cycle(GUARD_PASSING_VALUES)
    for pattern in PATTERNS:
        path = pattern.url(world.well_formed(pattern))
        try:
            match = resolve(path)
        except Resolver404:
            match = None
        assert match is not None and match.route == pattern.key, (path, pattern.key)
        covered.add(pattern.key)
        query = urlencode([(name, next(values)) for name in parameters_of(pattern)])
        for caller in _callers_of(pattern):
            _ask(world, caller, pattern, path, "", answers)
            _ask(world, caller, pattern, path, query, answers)
    answers.check()
    assert covered == {pattern.key for pattern in PATTERNS}
    assert len(covered) == len(get_resolver_leaves())


def test_every_parameter_and_path_id_of_every_pattern_without_a_5xx(world):
    """For the callers who see the most (a superuser; a read key on the API): each parameter
    a pattern's view reads, alone, with the value it is likeliest to choke on; each path id
    as text, a NUL and a number past bigint; and every parameter holding a NUL at once, which
    the query guard answers with 400 wherever the view is."""
    answers, nul_statuses = Answers(), []
    for pattern in PATTERNS:
        real = world.well_formed(pattern)
        path = pattern.url(real)
        callers = ("superuser", "key:read") if pattern.key.startswith("api/") else ("superuser",)
        for caller, name in itertools.product(callers, parameters_of(pattern)):
            _ask(world, caller, pattern, path, urlencode({name: killer_value(name)}), answers)
        for caller, slot in itertools.product(callers, pattern.slots):
            for value in ("abc", "\x00", "9" * 30):
                _ask(world, caller, pattern, pattern.url({**real, slot.name: value}), "", answers)
        nul_everywhere = urlencode([(name, "a\x00b") for name in parameters_of(pattern)])
        for caller in callers:
            nul_statuses.append(_ask(world, caller, pattern, path, nul_everywhere, answers))
    answers.check()
    assert set(nul_statuses) == {400}
    assert len(nul_statuses) >= len(PATTERNS)


def get_resolver_leaves() -> list[URLPattern]:
    """Every leaf of the URL tree, counted independently of the walker above."""
    leaves: list[URLPattern] = []
    pending: list[Any] = [get_resolver()]
    while pending:
        resolver = pending.pop()
        for entry in resolver.url_patterns:
            (pending if isinstance(entry, URLResolver) else leaves).append(entry)
    return leaves


def _kind(pattern: Pattern) -> str:
    if pattern.key.startswith("api/"):
        return "api"
    if not pattern.key.startswith("admin/"):
        return "site"
    model = _admin_model(pattern)
    if model is None:
        return "admin"
    return "admin changelist" if pattern.key == _admin_prefix(model) else "admin object"


PATTERNS_BY_KIND: dict[str, list[Pattern]] = {}
for _pattern in PATTERNS:
    PATTERNS_BY_KIND.setdefault(_kind(_pattern), []).append(_pattern)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_queries_and_ids_never_give_a_5xx(world, data):
    """Any pattern, any caller, hostile path ids (or real ones) and a hostile query."""
    # A kind of page first, then one of its patterns: the admin's hundred patterns would
    # otherwise leave the API and the dashboard few examples.
    kind = data.draw(st.sampled_from(sorted(PATTERNS_BY_KIND)), label="kind")
    pattern = data.draw(st.sampled_from(PATTERNS_BY_KIND[kind]), label="pattern")
    caller = data.draw(st.sampled_from(_callers_of(pattern)), label="caller")
    real = world.well_formed(pattern)
    values = {
        slot.name: data.draw(
            st.one_of(
                st.just(real[slot.name]),
                st.sampled_from(HOSTILE_IDS + slot.choices),
                st.integers(min_value=-(10**30), max_value=10**30).map(str),
                st.text(max_size=12),
            ),
            label=slot.name,
        )
        for slot in pattern.slots
    }
    query = data.draw(query_strings(pattern), label="query")
    answers = Answers()
    _ask(world, caller, pattern, pattern.url(values), query, answers)
    answers.check()

"""The scriptable contract of DESIGN.md "Management commands"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from governance.keys import key_matches
from governance.models import (
    ApiKey,
    ComplexityBand,
    MatrixModel,
    Membership,
    ModelPrice,
    Project,
    Service,
)
from tests.conftest import reference_matrix

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def tenant() -> None:
    run("create_org", "acme")
    run("create_project", "acme", "support")
    run("create_service", "acme", "support", "router")


def test_create_tenant_chain(tenant):
    service = Service.objects.select_related("project__organization").get()
    assert (service.project.organization.name, service.project.name, service.name) == (
        "acme",
        "support",
        "router",
    )


def test_duplicate_names_are_refused(tenant):
    with pytest.raises(CommandError, match="already exists"):
        run("create_project", "acme", "support")


def test_unknown_parents_are_refused(tenant):
    with pytest.raises(CommandError, match="organization 'nope' does not exist"):
        run("create_project", "nope", "x")
    with pytest.raises(CommandError, match="project 'nope' does not exist"):
        run("create_service", "acme", "nope", "x")


def test_create_api_key_prints_the_key_alone_on_the_last_line(tenant):
    output = run("create_api_key", "acme", "support", "--service", "router", "--scope", "ingest")
    raw_key = output.strip().splitlines()[-1]
    api_key = ApiKey.objects.get()
    assert raw_key.startswith(f"tg_{api_key.prefix}_") and len(raw_key) >= 44
    assert key_matches(raw_key, api_key.digest)
    assert raw_key not in (api_key.digest, api_key.prefix)
    assert api_key.service is not None
    assert api_key.service.name == "router" and api_key.scope == "ingest"


def test_ingest_key_needs_a_service(tenant):
    with pytest.raises(CommandError, match="needs a service"):
        run("create_api_key", "acme", "support", "--scope", "ingest")
    assert not ApiKey.objects.exists()


def test_read_key_without_service(tenant):
    run("create_api_key", "acme", "support", "--scope", "read")
    assert ApiKey.objects.get().service is None


def test_create_user_with_role_from_environment(tenant, monkeypatch):
    monkeypatch.setenv("TOLLGATE_PASSWORD", "correct horse battery staple")
    run("create_user", "acme", "olivia", "--role", "ops")
    run("create_user", "acme", "ada", "--role", "admin")
    olivia = Membership.objects.get(user__username="olivia")
    assert (olivia.organization.name, olivia.role) == ("acme", "ops")
    assert olivia.user.check_password("correct horse battery staple")
    assert not olivia.user.is_staff and olivia.user.groups.filter(name="ops").exists()
    assert Membership.objects.get(user__username="ada").user.is_staff


def test_load_matrix_json_then_again_changes_nothing(tenant, tmp_path):
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(reference_matrix()))

    first = run("load_matrix", "acme", "support", str(path))
    snapshot = list(ModelPrice.objects.order_by("pk").values())
    second = run("load_matrix", "acme", "support", str(path))

    assert "3 models created" in first
    assert "unchanged" in second
    assert list(ModelPrice.objects.order_by("pk").values()) == snapshot
    project = Project.objects.get(name="support")
    assert project.baseline_model == "claude-opus-4.6"
    assert project.expected_shares == {"gpt-5.4": 0.8, "claude-opus-4.6": 0.2}
    assert [
        (b.min_score, b.max_score, b.model_name)
        for b in ComplexityBand.objects.order_by("min_score")
    ] == [
        (0, 30, "gpt-5.4"),
        (30, 60, "claude-opus-4.6"),
        (60, 90, "gemini-3.1-pro"),
        (90, 100, "claude-opus-4.6"),
    ]


def test_load_matrix_yaml_with_price_change_and_cache_prices(tenant, tmp_path):
    document = reference_matrix()
    document["models"].append(
        {
            "name": "gpt-5.4",
            "provider": "openai",
            "tier": "standard",
            "input_per_1k": "0.006",
            "output_per_1k": "0.008",
            "cache_read_per_1k": "0.0006",
            "effective_from": "2026-06-01T00:00:00+00:00",
        }
    )
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(document))

    run("load_matrix", "acme", "support", str(path))

    prices = ModelPrice.objects.filter(model__name="gpt-5.4").order_by("effective_from")
    assert [(p.input_per_1k, p.output_per_1k, p.cache_read_per_1k) for p in prices] == [
        (Decimal("0.007"), Decimal("0.007"), None),
        (Decimal("0.006"), Decimal("0.008"), Decimal("0.0006")),
    ]
    assert MatrixModel.objects.filter(name="gpt-5.4").count() == 1


def test_load_matrix_sets_the_check_cost(tenant, tmp_path):
    project = Project.objects.get(name="support")
    assert project.check_cost_usd == Decimal("0")  # the default: figures stay as they were
    document = reference_matrix()
    document["settings"]["check_cost"] = "0.00035"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    run("load_matrix", "acme", "support", str(path))
    project.refresh_from_db()
    assert project.check_cost_usd == Decimal("0.00035")
    assert "check_cost_usd" not in run("load_matrix", "acme", "support", str(path))


def test_load_matrix_sets_the_default_mode(tenant, tmp_path):
    project = Project.objects.get(name="support")
    assert project.default_mode == "hybrid"
    document = reference_matrix()
    document["settings"]["default_mode"] = "routing_first"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    assert "default_mode" in run("load_matrix", "acme", "support", str(path))
    project.refresh_from_db()
    assert project.default_mode == "routing_first"
    assert "default_mode" not in run("load_matrix", "acme", "support", str(path))


def test_load_matrix_same_date_corrects_the_price(tenant, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(reference_matrix()))
    run("load_matrix", "acme", "support", str(path))
    corrected = reference_matrix()
    corrected["models"][0]["input_per_1k"] = "0.0065"
    path.write_text(json.dumps(corrected))

    output = run("load_matrix", "acme", "support", str(path))

    assert "1 corrected" in output
    assert ModelPrice.objects.get(model__name="gpt-5.4").input_per_1k == Decimal("0.0065")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["models"][0].update(input_per_1k="-1"), "models[0].input_per_1k"),
        (lambda d: d["models"][0].update(effective_from="soon"), "models[0].effective_from"),
        (lambda d: d["models"][0].pop("name"), "models[0].name"),
        (lambda d: d["bands"].append({"min": 95, "max": 99, "model": "gpt-5.4"}), "overlap"),
        (lambda d: d["bands"][0].update(model="unknown"), "bands[0].model"),
        (lambda d: d.update(baseline_model="unknown"), "baseline_model"),
        (lambda d: d["settings"].update(token_scale=0), "settings.token_scale"),
        (
            lambda d: d.update(expected_shares={"gpt-5.4": 0.9, "gemini-3.1-pro": 0.5}),
            "more than 1",
        ),
        # Digits of other scripts, which Decimal() reads: Arabic-Indic 7 and 30, Persian 2.
        (lambda d: d["models"][0].update(input_per_1k="0.00\u0667"), "models[0].input_per_1k"),
        (lambda d: d["bands"][0].update(max="\u0663\u0660"), "bands[0].max"),
        (lambda d: d["settings"].update(incident_cost="\u06f2"), "settings.incident_cost"),
        (lambda d: d["settings"].update(check_cost="-0.001"), "settings.check_cost"),
        (lambda d: d["settings"].update(default_mode="fastest"), "settings.default_mode"),
        (lambda d: d["models"][0].update(output_per_1k="1e30"), "models[0].output_per_1k"),
    ],
)
def test_bad_matrix_is_refused_whole(tenant, tmp_path, mutate, message):
    document = reference_matrix()
    mutate(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run("load_matrix", "acme", "support", str(path))
    assert not MatrixModel.objects.exists()  # all or nothing


def test_unreadable_matrix_file(tenant, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("load_matrix", "acme", "support", str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(CommandError, match="not valid JSON or YAML"):
        run("load_matrix", "acme", "support", str(broken))


def _test_database_url() -> str:
    database = connection.settings_dict
    user = urllib.parse.quote(database["USER"])
    password = f":{urllib.parse.quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
    host = str(database["HOST"] or "127.0.0.1")
    if host.startswith("/"):  # the embedded server listens on a socket folder
        return f"postgresql://{user}{password}@/{database['NAME']}?host={urllib.parse.quote(host)}"
    return f"postgresql://{user}{password}@{host}:{database['PORT'] or 5432}/{database['NAME']}"


@pytest.mark.parametrize(
    "argv",
    [
        ["create_api_key", "acme", "support", "--scope", "write"],
        ["create_user", "acme", "bob", "--role", "ceo"],
        ["create_org"],
        ["create_project", "no-such-org", "p"],
    ],
)
def test_bad_arguments_fail_with_one_line_and_non_zero_exit(argv):
    # The command runs against this test's database, never the developer's own.
    environment = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "SECRET_KEY": "command-test-" + "k" * 40,
    }
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *argv],
        env=environment,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr

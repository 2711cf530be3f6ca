"""A project's profile (the article's five questions): loaded by `load_matrix` under "profile"
idempotently and all or nothing, audited, and edited in the
admin by the organization's admins only."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from simple_history.utils import update_change_reason

from governance.matrix import matrix_load
from governance.models import PROFILE_QUESTIONS, ComplexityBand, ProjectProfile
from governance.services import GovernanceError
from tests.conftest import reference_matrix
from tests.governance.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

FULL = {
    "precision": "high",
    "traffic_pattern": "variable",
    "compliance": "strong",
    "latency_tolerance": "medium",
    "cost_sensitivity": "low",
}


def _stored(project) -> dict[str, str]:
    return {q: getattr(ProjectProfile.objects.get(project=project), q) for q in PROFILE_QUESTIONS}


def test_a_profile_loads_and_a_second_load_changes_nothing(project):
    first = matrix_load(project=project, document={"profile": FULL})
    assert first.profile == "created" and first.changed
    assert _stored(project) == FULL

    again = matrix_load(project=project, document=json.loads(json.dumps({"profile": FULL})))
    assert again.profile == "unchanged" and not again.changed
    assert ProjectProfile.objects.get(project=project).history.count() == 1

    edited = matrix_load(project=project, document={"profile": FULL | {"precision": "low"}})
    assert edited.profile == "updated"
    assert _stored(project)["precision"] == "low"
    profile = ProjectProfile.objects.get(project=project)
    before, after = profile.history.order_by("history_date")
    assert (before.precision, after.precision) == ("high", "low")


def test_a_document_without_a_profile_leaves_it_alone(project):
    matrix_load(project=project, document={"profile": FULL})
    result = matrix_load(project=project, document={"settings": {"token_scale": 8000}})
    assert result.profile == ""
    assert _stored(project) == FULL


def test_a_partial_profile_leaves_the_other_questions_unanswered(project):
    matrix_load(project=project, document={"profile": FULL})
    result = matrix_load(
        project=project, document={"profile": {"precision": "medium", "compliance": None}}
    )
    assert result.profile == "updated"
    profile = ProjectProfile.objects.get(project=project)
    assert profile.answers == {"precision": "medium"}
    assert _stored(project) == dict.fromkeys(PROFILE_QUESTIONS, "") | {"precision": "medium"}


def test_a_null_profile_removes_it_and_the_history_keeps_it(project):
    matrix_load(project=project, document={"profile": FULL})
    assert matrix_load(project=project, document={"profile": None}).profile == "removed"
    assert not ProjectProfile.objects.filter(project=project).exists()
    assert ProjectProfile.history.filter(project_id=project.pk).count() == 2  # created, removed
    assert matrix_load(project=project, document={"profile": None}).profile == "unchanged"


def test_a_profile_loaded_again_with_its_unanswered_questions_as_null_is_unchanged(
    project, organization
):
    matrix_load(project=project, document={"profile": {"precision": "low"}})
    document = dict.fromkeys(PROFILE_QUESTIONS) | {"precision": "low"}
    assert matrix_load(project=project, document={"profile": document}).profile == "unchanged"
    assert ProjectProfile.objects.get(project=project).answers == {"precision": "low"}
    other = ProjectFactory.create(organization=organization, name="other")
    assert not ProjectProfile.objects.filter(project=other).exists()  # one project's only


@pytest.mark.parametrize(
    ("profile", "says"),
    [
        ({"precision": "extreme"}, "profile.precision: expected one of high, medium, low or null"),
        ({"traffic_pattern": "medium"}, "profile.traffic_pattern: expected one of fixed, variable"),
        ({"compliance": 1}, "profile.compliance: expected one of strong, medium, weak"),
        ({"latency_tolerance": ["low"]}, "profile.latency_tolerance: expected one of"),
        ({"cost_sensitivity": "HIGH"}, "profile.cost_sensitivity: expected one of"),
        ({"budget": "high"}, "profile.budget: not a question"),
        (["high"], "profile: expected an object"),
        ("high", "profile: expected an object"),
    ],
)
def test_a_bad_profile_names_its_path_and_changes_nothing(project, profile, says):
    matrix_load(project=project, document={"profile": FULL})
    bands = list(ComplexityBand.objects.filter(project=project).values_list("model_name"))
    document = {"bands": [{"min": 0, "max": 100, "model": "gpt-5.4"}], "profile": profile}
    with pytest.raises(GovernanceError) as refused:
        matrix_load(project=project, document=document)
    assert str(refused.value).startswith(says)
    # One transaction: the bands listed before the bad profile are not replaced either.
    assert list(ComplexityBand.objects.filter(project=project).values_list("model_name")) == bands
    assert _stored(project) == FULL


def test_load_matrix_command_reads_a_yaml_profile_and_reports_it(project, tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(reference_matrix() | {"profile": FULL}))

    def load() -> str:
        out = StringIO()
        call_command("load_matrix", "acme", "support", str(path), stdout=out)
        return out.getvalue()

    assert "profile created" in load()
    assert load().strip() == "matrix of acme/support unchanged"
    assert _stored(project) == FULL

    path.write_text(yaml.safe_dump({"profile": {"precision": "sky-high"}}))
    with pytest.raises(CommandError, match=r"^profile\.precision: expected one of"):
        load()


# --- the admin -------------------------------------------------------------------------------


@pytest.fixture
def admin_user(project):
    return UserFactory.create(organization=project.organization, username="ada", role="admin")


@pytest.fixture
def other_profile():
    other = ProjectFactory.create(organization__name="globex", name="secret-project")
    return ProjectProfile.objects.create(project=other, precision="high")


def _inline_form(project, **answers: str) -> dict[str, str]:
    """The project's change page as posted, with its profile inline."""
    existing = ProjectProfile.objects.filter(project=project).first()
    form = {
        "name": project.name,
        "organization": str(project.organization_id),
        "interception_cost_usd": "0.002",
        "correction_cost_usd": "0.005",
        "incident_cost_usd": "0",
        "check_cost_usd": "0",
        "token_scale": "8000",
        "tool_scale": "5",
        "retention_days": "90",
        "default_mode": project.default_mode,
        "change_reason": "answered the article's questions",
        "services-TOTAL_FORMS": "0",
        "services-INITIAL_FORMS": "0",
        "profile-TOTAL_FORMS": "1",
        "profile-INITIAL_FORMS": "1" if existing else "0",
        "profile-0-project": str(project.pk),
    }
    if existing:
        form["profile-0-id"] = str(existing.pk)
    return form | {f"profile-0-{question}": answer for question, answer in answers.items()}


def test_an_organization_admin_answers_the_questions_on_the_project_page(
    client, admin_user, project
):
    client.force_login(admin_user)
    page = client.get(f"/admin/governance/project/{project.pk}/change/")
    assert page.status_code == 200
    assert b'name="profile-0-precision"' in page.content

    response = client.post(
        f"/admin/governance/project/{project.pk}/change/",
        _inline_form(project, precision="high", compliance="strong"),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    profile = ProjectProfile.objects.get(project=project)
    assert profile.answers == {"precision": "high", "compliance": "strong"}  # the rest unanswered
    record = profile.history.get()
    assert record.history_user == admin_user
    assert record.history_change_reason == "answered the article's questions"


def test_the_default_mode_is_set_on_the_project_page_and_audited(client, admin_user, project):
    """OTLP routing spans without tollgate.mode take it: who changed it, and when, is kept."""
    assert project.default_mode == "hybrid"
    client.force_login(admin_user)
    response = client.post(
        f"/admin/governance/project/{project.pk}/change/",
        _inline_form(project) | {"default_mode": "enforcement_first"},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    project.refresh_from_db()
    assert project.default_mode == "enforcement_first"
    latest, before = project.history.all()[:2]
    assert (before.default_mode, latest.default_mode) == ("hybrid", "enforcement_first")
    assert latest.history_user == admin_user

    refused = client.post(
        f"/admin/governance/project/{project.pk}/change/",
        _inline_form(project) | {"default_mode": "fastest"},
    )
    assert refused.status_code == 200 and "default_mode" in refused.context["adminform"].errors


def test_an_answer_that_is_not_a_choice_is_a_form_error(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(
        f"/admin/governance/project/{project.pk}/change/",
        _inline_form(project, precision="extreme"),
    )
    assert response.status_code == 200
    assert not ProjectProfile.objects.filter(project=project).exists()


def test_profiles_have_their_own_list_and_history(client, admin_user, project, other_profile):
    own = ProjectProfile.objects.create(project=project, latency_tolerance="low")
    own.latency_tolerance = "high"
    own.save()
    update_change_reason(own, "users wait")
    client.force_login(admin_user)

    listing = client.get("/admin/governance/projectprofile/")
    assert [row.pk for row in listing.context["cl"].result_list] == [own.pk]
    assert b"secret-project" not in listing.content
    history = client.get(f"/admin/governance/projectprofile/{own.pk}/history/")
    assert history.status_code == 200 and b"users wait" in history.content


def test_another_organizations_profile_is_not_found(client, admin_user, other_profile):
    client.force_login(admin_user)
    base = f"/admin/governance/projectprofile/{other_profile.pk}"
    # Django's admin answers a row it cannot find with a redirect to the index.
    response = client.get(f"{base}/change/")
    assert response.status_code == 302 and response.url == "/admin/"
    assert client.get(f"{base}/history/").status_code == 404
    client.post(f"{base}/change/", {"project": other_profile.project_id, "precision": "low"})
    other_profile.refresh_from_db()
    assert other_profile.precision == "high"


def test_a_new_profile_offers_only_the_organizations_projects(client, admin_user, other_profile):
    client.force_login(admin_user)
    page = client.get("/admin/governance/projectprofile/add/")
    offered = {str(project) for project in page.context["adminform"].form["project"].field.queryset}
    assert offered == {"acme/support"}


def test_saving_the_project_without_answers_makes_no_profile(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(f"/admin/governance/project/{project.pk}/change/", _inline_form(project))
    assert response.status_code == 302
    assert not ProjectProfile.objects.filter(project=project).exists()

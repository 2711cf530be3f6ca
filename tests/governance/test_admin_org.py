"""The admin as an organization admin uses it: the Analytics section scoped to their
organization, their members' users, the project beside every price and model, money shown as
money, and a reason kept with each edit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.utils import timezone

from analytics.models import Alert, AlertEvaluation, AlertState, Notification, Repricing
from governance.models import Budget, ComplexityBand, MatrixModel, ModelPrice, Project
from governance.numbers import AsciiMoneyField, money_shown
from tests.governance.factories import (
    AlertRuleFactory,
    BudgetFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(project):
    return UserFactory.create(organization=project.organization, username="ada", role="admin")


@pytest.fixture
def other_project():
    return ProjectFactory.create(organization__name="globex", name="secret-project", matrix=True)


def _analytics_rows(project: Project, label: str) -> dict[str, int]:
    """One alert, evaluation, email and repricing of the project's organization."""
    now = timezone.now()
    rule = AlertRuleFactory.create(project=project, name=f"{label}-rule")
    alert = Alert.objects.create(
        rule=rule, project=project, organization=project.organization, kind=rule.kind,
        scope="project", severity="warning", state=AlertState.FIRING,
        summary=f"{label} alert", firing_since=now, pending_since=now, updated_at=now,
    )  # fmt: skip
    evaluation = AlertEvaluation.objects.create(
        rule=rule, scope="project", alert=alert, evaluated_at=now, value=0.5, breached=True,
        state_after=AlertState.FIRING, note=f"{label} evaluation",
    )  # fmt: skip
    notification = Notification.objects.create(
        organization=project.organization, dedup_key=f"test:{label}",
        recipient=f"ops@{label}.test", subject=f"{label} mail", body_text="plain",
        body_html="<p>html</p>", state="failed", next_attempt_at=now, created_at=now,
    )  # fmt: skip
    repricing = Repricing.objects.create(project=project, reason=f"{label} repricing")
    return {
        "alert": alert.pk,
        "alertevaluation": evaluation.pk,
        "notification": notification.pk,
        "repricing": repricing.pk,
    }


def test_the_organization_admin_sees_the_analytics_section_and_users(client, admin_user):
    client.force_login(admin_user)
    index = client.get("/admin/").content.decode()
    for link in (
        "/admin/analytics/alert/",
        "/admin/analytics/alertevaluation/",
        "/admin/analytics/notification/",
        "/admin/analytics/repricing/",
        "/admin/auth/user/",
    ):
        assert f'href="{link}"' in index
    assert "/admin/axes/" not in index  # sign-in records stay the superusers'


@pytest.mark.parametrize("model", ["alert", "alertevaluation", "notification", "repricing"])
def test_analytics_rows_are_scoped_to_the_organization(
    client, admin_user, project, other_project, model
):
    own = _analytics_rows(project, "acme")[model]
    other = _analytics_rows(other_project, "globex")[model]
    client.force_login(admin_user)

    listing = client.get(f"/admin/analytics/{model}/")
    assert listing.status_code == 200
    assert [row.pk for row in listing.context["cl"].result_list] == [own]
    assert b"globex" not in listing.content
    assert client.get(f"/admin/analytics/{model}/{own}/change/").status_code == 200
    # Django's admin answers a row it cannot find with a redirect to the index and a message.
    response = client.get(f"/admin/analytics/{model}/{other}/change/")
    assert response.status_code == 302 and response.url == "/admin/"


@pytest.mark.parametrize("model", ["alert", "alertevaluation", "notification", "repricing"])
def test_analytics_rows_stay_read_only(client, admin_user, project, model):
    row = _analytics_rows(project, "acme")[model]
    client.force_login(admin_user)
    page = client.get(f"/admin/analytics/{model}/{row}/change/")
    assert b'name="_save"' not in page.content
    assert client.get(f"/admin/analytics/{model}/add/").status_code == 403


def test_alert_actions_change_only_the_organizations_alerts(
    client, admin_user, project, other_project
):
    own = _analytics_rows(project, "acme")["alert"]
    other = _analytics_rows(other_project, "globex")["alert"]
    client.force_login(admin_user)
    client.post(
        "/admin/analytics/alert/",
        {"action": "acknowledge", "_selected_action": [own, other]},
    )
    client.post("/admin/analytics/alert/", {"action": "silence", "_selected_action": [own, other]})
    acknowledged = dict(Alert.objects.values_list("pk", "acknowledged_by"))
    silenced = dict(Alert.objects.values_list("pk", "silenced_until"))
    assert acknowledged == {own: admin_user.pk, other: None}
    assert silenced[own] is not None and silenced[other] is None


def test_the_organization_admin_edits_only_its_members(client, admin_user, project, other_project):
    member = UserFactory.create(organization=project.organization, username="bob")
    stranger = UserFactory.create(organization=other_project.organization, username="eve")
    superuser = User.objects.create_superuser("root", password="x")
    client.force_login(admin_user)

    listing = client.get("/admin/auth/user/")
    listed = {user.username for user in listing.context["cl"].result_list}
    assert listed == {"ada", "bob"}
    for hidden in (stranger, superuser):
        assert client.get(f"/admin/auth/user/{hidden.pk}/change/").status_code == 302
        assert client.get(f"/admin/auth/user/{hidden.pk}/password/").status_code == 404

    response = client.post(
        f"/admin/auth/user/{member.pk}/change/",
        {
            "username": "bob",
            "email": "bob@acme.test",
            "first_name": "Bob",
            "last_name": "",
            "is_active": "on",
            "is_staff": "on",  # not a field of the member's form: ignored
            "is_superuser": "on",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.email == "bob@acme.test" and member.first_name == "Bob"
    assert not member.is_staff and not member.is_superuser

    response = client.post(
        f"/admin/auth/user/{stranger.pk}/change/",
        {"username": "eve", "email": "pwned@acme.test", "is_active": "on"},
    )
    stranger.refresh_from_db()
    assert stranger.email == ""


def test_a_user_added_by_the_organization_admin_joins_its_organization(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "carol",
            "email": "carol@acme.test",
            "usable_password": "true",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    assert carol.email == "carol@acme.test"
    assert carol.membership.organization == project.organization
    assert carol.membership.role == "ops" and not carol.is_staff


def test_prices_and_models_show_their_project(client, admin_user, project):
    client.force_login(admin_user)
    page = client.get("/admin/governance/modelprice/")
    assert page.status_code == 200
    assert "Project" in page.content.decode() and "acme/support" in page.content.decode()
    for path in ("matrixmodel", "complexityband", "budget", "alertrule"):
        assert "project" in client.get(f"/admin/governance/{path}/").context["cl"].list_display


def test_a_price_offers_the_models_of_its_own_project_only(client, admin_user, project):
    second = ProjectFactory.create(organization=project.organization, name="billing", matrix=True)
    price = ModelPrice.objects.filter(model__project=project).first()
    assert price is not None
    client.force_login(admin_user)

    change = client.get(f"/admin/governance/modelprice/{price.pk}/change/")
    field = change.context["adminform"].form.fields["model"]
    assert set(field.queryset.values_list("project", flat=True)) == {project.pk}
    assert field.label_from_instance(price.model) == f"{price.model} · support"

    add = client.get("/admin/governance/modelprice/add/")
    labels = [label for _value, label in add.context["adminform"].form.fields["model"].choices]
    names = MatrixModel.objects.filter(project__in=[project, second])
    assert len(labels) == names.count() + 1  # and the empty choice
    assert len(set(labels)) == len(labels)  # no two alike: each names its project
    assert any(label.endswith("· billing") for label in labels)


def test_money_shows_as_money():
    assert money_shown(Decimal("12000.00000000")) == "$12,000.00"
    assert money_shown(Decimal("0.00250000")) == "$0.0025"
    assert money_shown(Decimal("0.00000150")) == "$0.0000015"
    assert money_shown(Decimal("-3.50000000")) == "-$3.50"
    field = AsciiMoneyField(max_digits=20, decimal_places=8)
    assert field.clean("$12,000.00") == Decimal("12000")
    assert field.clean("0.0025") == Decimal("0.0025")
    for typed in ("1,5", "$", "12,00", "١٢"):
        with pytest.raises(Exception, match="Enter"):
            field.clean(typed)


def test_the_admin_lists_and_forms_show_money(client, admin_user, project):
    budget = BudgetFactory.create(project=project, amount_usd=Decimal("12000"))
    client.force_login(admin_user)
    listing = client.get("/admin/governance/budget/").content.decode()
    assert '<td class="field-amount_usd">$12,000.00</td>' in listing
    prices = client.get("/admin/governance/modelprice/").content.decode()
    assert "00000<" not in prices and "$0.0" in prices
    form = client.get(f"/admin/governance/budget/{budget.pk}/change/").content.decode()
    assert 'name="amount_usd" value="$12,000.00"' in form
    project_form = client.get(f"/admin/governance/project/{project.pk}/change/").content.decode()
    assert 'value="$0.002"' in project_form  # the interception cost default, no zeros after


def test_an_edit_keeps_its_reason_and_the_history_shows_it(client, admin_user, project):
    budget = BudgetFactory.create(project=project, amount_usd=Decimal("100"))
    client.force_login(admin_user)
    form = client.get(f"/admin/governance/budget/{budget.pk}/change/")
    data = {
        name: value
        for name, value in form.context["adminform"].form.initial.items()
        if value is not None
    }
    data.update(
        organization=project.organization.pk,
        project=project.pk,
        amount_usd="$12,000",
        thresholds="[50, 80, 100]",
        is_active="on",
        change_reason="Q3 plan approved",
    )
    response = client.post(f"/admin/governance/budget/{budget.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    record = Budget.history.filter(id=budget.pk).latest("history_date")
    assert record.history_change_reason == "Q3 plan approved"
    assert record.history_user == admin_user
    history = client.get(f"/admin/governance/budget/{budget.pk}/history/").content.decode()
    assert "Q3 plan approved" in history
    assert "$100.00" in history and "$12,000.00" in history  # before and after, as money


def test_a_band_offers_the_models_of_its_own_project(client, admin_user, project, other_project):
    other_name = "only-elsewhere"
    MatrixModel.objects.create(project=other_project, name=other_name, provider="acme-ai")
    band = ComplexityBand.objects.create(
        project=project, min_score=0, max_score=100, model_name="gpt-5.4"
    )
    client.force_login(admin_user)
    form = client.get(f"/admin/governance/complexityband/{band.pk}/change/").context["adminform"]
    offered = [value for value, _label in form.form.fields["model_name"].choices]
    assert offered == sorted(project.matrix_models.values_list("name", flat=True))
    assert other_name not in offered


def test_migrate_gives_an_existing_admin_group_the_analytics_permissions(admin_user):
    from governance.apps import role_groups_refresh

    group = Group.objects.get(name="admin")
    group.permissions.remove(*group.permissions.filter(content_type__app_label="analytics"))
    assert not User.objects.get(pk=admin_user.pk).has_perm("analytics.view_alert")
    role_groups_refresh(sender=apps.get_app_config("governance"), using="default")
    assert User.objects.get(pk=admin_user.pk).has_perm("analytics.view_alert")

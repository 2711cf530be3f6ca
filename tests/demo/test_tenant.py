"""The demo's tenant on a later run: users keep their sessions, and get the email addresses
an older demo did not give them, so alerts and the digest reach `.data/mail`; each project gets
its profile, and the one running against it a rule that watches the mismatch."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from governance.models import AlertRule, Project, ProjectProfile
from tollgate.demo.alerts import demo_rules_load
from tollgate.demo.tenant import USERS, DemoState, demo_email, demo_tenant_ensure
from tollgate.demo.traffic import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)  # the ensure closes every connection


def test_each_user_gets_an_address_and_an_older_demo_gets_them_filled_in():
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    assert {user.username: user.email for user in User.objects.filter(username__in=USERS)} == {
        "ops": "ops@demo.tollgate.test",
        "finance": "finance@demo.tollgate.test",
        "admin": "admin@demo.tollgate.test",
    }
    User.objects.filter(username__in=("ops", "finance")).update(email="")  # an older demo
    User.objects.filter(username="admin").update(email="lead@example.com")  # set in the admin
    demo_tenant_ensure(state)
    emails = dict(User.objects.filter(username__in=USERS).values_list("username", "email"))
    assert emails == {
        "ops": demo_email("ops"),
        "finance": demo_email("finance"),
        "admin": "lead@example.com",
    }


def test_a_restart_keeps_the_users_signed_in():
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    client = Client()
    signed_in = client.post(
        "/accounts/login/", {"username": "ops", "password": state.passwords["ops"]}
    )
    assert signed_in.status_code == 302
    assert client.get("/dashboard/").status_code == 200
    hash_before = User.objects.get(username="ops").password

    demo_tenant_ensure(DemoState(passwords=dict(state.passwords), keys=dict(state.keys)))

    assert User.objects.get(username="ops").password == hash_before
    assert client.get("/dashboard/").status_code == 200  # not sent to the sign-in page


def test_a_changed_stored_password_is_set_again():
    state = DemoState(passwords={}, keys={})
    demo_tenant_ensure(state)
    state.passwords["finance"] = "a-new-demo-password-42"
    demo_tenant_ensure(state)
    assert User.objects.get(username="finance").check_password("a-new-demo-password-42")


def test_each_project_gets_its_profile_and_the_research_assistant_its_mismatch_rule():
    """The profile goes in with the matrix (unchanged on a restart: no new audit rows); the
    one project running against its profile watches that mismatch."""
    state = DemoState(passwords={}, keys={})
    organization = demo_tenant_ensure(state)
    demo_rules_load(organization)
    projects = {
        project.name: project for project in Project.objects.filter(organization=organization)
    }
    for scenario in SCENARIOS.values():
        assert scenario.profile is not None
        profile = ProjectProfile.objects.get(project=projects[scenario.project])
        assert profile.answers == scenario.profile.document()
    audited = ProjectProfile.history.count()
    demo_tenant_ensure(state)
    assert ProjectProfile.history.count() == audited

    rules = AlertRule.objects.filter(kind="architecture_mismatch")
    assert [(rule.project.name, rule.findings) for rule in rules] == [
        ("research-assistant", ["mode_mismatch"])
    ]

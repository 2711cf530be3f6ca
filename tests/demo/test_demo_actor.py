"""The demo's own edits are recorded in the audit history as made by the user `demo`, who
cannot sign in, not by nobody ("changed by None")."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from governance.models import AlertRule, Budget, MatrixModel, ModelPrice, Project
from tollgate.demo.actor import ACTOR
from tollgate.demo.alerts import demo_rules_load
from tollgate.demo.tenant import DemoState, demo_tenant_ensure

pytestmark = pytest.mark.django_db(transaction=True)  # the ensure closes every connection


def test_the_demo_setup_is_recorded_as_made_by_the_demo_actor():
    organization = demo_tenant_ensure(DemoState(passwords={}, keys={}))
    demo_rules_load(organization)

    actor = User.objects.get(username=ACTOR)
    assert not actor.is_active and not actor.has_usable_password()
    assert actor.membership.organization == organization and not actor.is_staff
    for model in (Project, MatrixModel, ModelPrice, Budget, AlertRule):
        users = set(model.history.values_list("history_user__username", flat=True))
        assert users == {ACTOR}, model.__name__


def test_outside_the_demo_edits_name_nobody_again(project):
    demo_tenant_ensure(DemoState(passwords={}, keys={}))
    project.retention_days = 30
    project.save()
    assert project.history.latest("history_date").history_user is None

"""The factories make what production makes: through the services (trimmed names, hashed keys,
role groups), validated and audited rows, whole chains inside one organization, unique names."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from governance.keys import key_matches
from governance.models import ApiKey, MatrixModel, ModelPrice, Project, Role, ScopeKind
from governance.selectors import api_key_for_secret, price_book_for_project
from governance.services import GovernanceError
from tests.governance.factories import (
    USER_PASSWORD,
    AlertRuleFactory,
    ApiKeyFactory,
    BudgetFactory,
    ComplexityBandFactory,
    MatrixModelFactory,
    ModelPriceFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceFactory,
    UserFactory,
    reference_matrix,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("factory", "unique"),
    [
        (OrganizationFactory, lambda o: o.name),
        (ProjectFactory, lambda p: p.name),
        (ServiceFactory, lambda s: s.name),
        (ApiKeyFactory, lambda k: k.prefix),
        (UserFactory, lambda u: u.username),
        (MatrixModelFactory, lambda m: m.name),
        (ModelPriceFactory, lambda p: p.model.name),
        (BudgetFactory, lambda b: b.name),
        (AlertRuleFactory, lambda r: r.name),
    ],
)
def test_two_of_each_are_distinct(factory, unique):
    first, second = factory(), factory()
    assert first.pk != second.pk
    assert unique(first) != unique(second)


def test_tenants_go_through_the_services():
    organization = OrganizationFactory.create(name="  acme  ")
    assert organization.name == "acme"  # organization_create trims
    with pytest.raises(GovernanceError, match="already exists"):
        OrganizationFactory.create(name="acme")
    project = ProjectFactory.create(organization=organization, name="support")
    with pytest.raises(GovernanceError, match="already exists in 'acme'"):
        ProjectFactory.create(organization=organization, name="support")
    service = ServiceFactory.create(project=project)
    assert service.project.organization == organization
    kept = ProjectFactory.create(retention_days=30)
    assert Project.objects.get(pk=kept.pk).retention_days == 30
    with pytest.raises(ValidationError, match="retention_days"):
        ProjectFactory.create(retention_days=0)
    assert ServiceFactory.create().project.organization != organization


def test_project_matrix_is_the_reference_matrix():
    bare, loaded = ProjectFactory.create(), ProjectFactory.create(matrix=True)
    assert not MatrixModel.objects.filter(project=bare).exists()
    names = {entry["name"] for entry in reference_matrix()["models"]}
    assert set(loaded.matrix_models.values_list("name", flat=True)) == names
    entry = price_book_for_project(project_id=loaded.pk).entry("gpt-5.4")
    assert entry is not None and entry.prices


def test_api_key_raw_key_verifies_and_is_not_stored():
    key = ApiKeyFactory.create()
    assert key.raw_key.startswith("tg_")
    assert api_key_for_secret(key.raw_key) == key
    stored = ApiKey.objects.get(pk=key.pk)
    assert key_matches(key.raw_key, stored.digest)
    assert key.raw_key not in {stored.digest, stored.prefix}
    # an ingest key gets a service of its own project
    assert key.scope == "ingest"
    assert key.service is not None and key.service.project == key.project


def test_api_key_scope_service_and_project_follow_each_other():
    read = ApiKeyFactory.create(scope="read")
    assert read.service is None and api_key_for_secret(read.raw_key) == read
    service = ServiceFactory.create()
    assert ApiKeyFactory.create(service=service).project == service.project
    project = ProjectFactory.create()
    own_service = ApiKeyFactory.create(project=project).service
    assert own_service is not None and own_service.project == project
    organization = OrganizationFactory.create()
    deep = ApiKeyFactory.create(project__organization=organization)
    assert deep.service is not None
    assert deep.project.organization == organization == deep.service.project.organization
    limited = ApiKeyFactory.create(rate_limit_per_minute=5)
    assert ApiKey.objects.get(pk=limited.pk).rate_limit_per_minute == 5
    with pytest.raises(GovernanceError, match="does not belong"):
        ApiKeyFactory.create(project=ProjectFactory.create(), service=service)


@pytest.mark.parametrize("role", Role.values)
def test_user_signs_in_with_the_role(role):
    user = UserFactory.create(role=role)
    assert user.membership.role == role
    assert list(user.groups.values_list("name", flat=True)) == [role]
    assert user.is_staff == (role == Role.ADMIN)  # only admins reach the admin
    client = Client()
    answer = client.post("/accounts/login/", {"username": user.username, "password": USER_PASSWORD})
    assert answer.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)


def test_users_of_one_organization_share_it_and_no_other():
    organization = OrganizationFactory.create()
    ops, finance = (
        UserFactory.create(organization=organization),
        UserFactory.create(organization=organization),
    )
    stranger = UserFactory.create()
    assert ops.membership.organization == finance.membership.organization == organization
    assert stranger.membership.organization != organization


def test_budget_belongs_to_its_projects_organization():
    budget = BudgetFactory.create()
    assert budget.project is not None
    assert budget.organization == budget.project.organization
    assert budget.history.count() == 1  # audited, as an admin or load_rules save is
    organization = OrganizationFactory.create()
    in_org = BudgetFactory.create(organization=organization)
    assert in_org.project is not None and in_org.project.organization == organization
    wide = BudgetFactory.create(organization_wide=True, organization=organization)
    assert wide.project is None and wide.scope_kind == ScopeKind.ORGANIZATION
    assert wide.organization == organization
    with pytest.raises(ValueError, match="not in organization"):
        BudgetFactory.create(organization=organization, project=ProjectFactory.create())


def test_clean_saved_rows_are_validated():
    with pytest.raises(ValidationError, match="amount_usd"):
        BudgetFactory.create(amount_usd=Decimal("0"))
    with pytest.raises(ValidationError, match="scope_name"):
        AlertRuleFactory.create(scope_kind="model")
    with pytest.raises(ValidationError):
        ComplexityBandFactory.create(min_score=Decimal("60"), max_score=Decimal("40"))


def test_rule_band_and_price_chains():
    rule = AlertRuleFactory.create(threshold=Decimal("0.2"))
    assert rule.effective_threshold == Decimal("0.2") and rule.history.count() == 1
    band = ComplexityBandFactory.create()
    assert band.project.bands.get() == band
    price = ModelPriceFactory.create()
    assert price.effective_from.tzinfo is not None
    assert ModelPrice.objects.get(pk=price.pk).input_per_1k == Decimal("0.003")
    book = price_book_for_project(project_id=price.model.project_id)
    entry = book.entry(price.model.name)
    assert entry is not None and entry.prices[0].id == price.pk

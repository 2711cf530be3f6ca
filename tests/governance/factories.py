"""Factories for governance objects, so a test builds what it needs in a line.

Each factory makes its object the way production does: tenants, projects, services, users and
API keys through `governance.services` (names trimmed and checked, roles turned into groups,
keys hashed); the reference matrix through `matrix_load`; prices, bands, budgets and rules
with `full_clean()` then `save()`, as the admin and `load_rules` do (so the audit history and
the repricing signals run). Defaults are unique (sequences) and the chains are whole:
`BudgetFactory.create()` alone makes its organization and project.

    project = ProjectFactory.create(matrix=True)          # with the reference matrix
    key = ApiKeyFactory.create(project=project)           # an ingest key, with a new service
    key.raw_key                                           # its clear text, returned once
    UserFactory.create(organization=org, role="finance")  # signs in with USER_PASSWORD
    BudgetFactory.create(organization_wide=True, organization=org)

Call `XFactory.create(...)`: it is typed as the model. `XFactory(...)` makes the same row, but
mypy reads it as the factory (factory_boy types only `build()` and `create()`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import factory
from django.contrib.auth.models import User
from django.db import models
from factory.django import DjangoModelFactory

from governance.matrix import matrix_load
from governance.models import (
    AlertRule,
    ApiKey,
    ApiKeyScope,
    Budget,
    ComplexityBand,
    MatrixModel,
    ModelPrice,
    Organization,
    Project,
    Role,
    ScopeKind,
    Service,
)
from governance.services import (
    api_key_create,
    organization_create,
    project_create,
    service_create,
    user_create,
)

ModelT = TypeVar("ModelT", bound=models.Model)

if TYPE_CHECKING:

    class IssuedApiKey(ApiKey):
        """An API key as ApiKeyFactory returns it: with its clear text (never stored)."""

        raw_key: str

else:
    IssuedApiKey = ApiKey

REFERENCE_MATRIX = Path(__file__).resolve().parents[2] / "tollgate/demo/data/reference_matrix.json"
USER_PASSWORD = "factory-pw-long-enough-1"


def reference_matrix() -> dict[str, Any]:
    """The demo's model matrix (models, prices, bands, settings) as a fresh document."""
    return json.loads(REFERENCE_MATRIX.read_text())


class _CleanSavedFactory(DjangoModelFactory[ModelT]):
    """Rows the admin and the rules file write: validated with full_clean(), then saved."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: type[ModelT], *args: Any, **kwargs: Any) -> ModelT:
        instance = model_class(*args, **kwargs)
        instance.full_clean()
        instance.save()
        return instance


class OrganizationFactory(DjangoModelFactory[Organization]):
    """A tenant made by `organization_create`."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"org-{n}")

    @classmethod
    def _create(cls, model_class: type, *, name: str) -> Organization:
        return organization_create(name=name)


class ProjectFactory(DjangoModelFactory[Project]):
    """A project made by `project_create`; settings passed beside it (`retention_days=30`)
    are then saved as an admin edit would. `ProjectFactory.create(matrix=True)` also loads the
    reference matrix (or pass a matrix document of your own)."""

    class Meta:
        model = Project
        skip_postgeneration_save = True  # a second save would add an audit row

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"project-{n}")

    @classmethod
    def _create(
        cls, model_class: type, *, organization: Organization, name: str, **settings: Any
    ) -> Project:
        project = project_create(organization=organization, name=name)
        if settings:
            for field, value in settings.items():
                setattr(project, field, value)
            project.full_clean()
            project.save()
        return project

    @factory.post_generation
    def matrix(project: Project, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            document = reference_matrix() if extracted is True else extracted
            matrix_load(project=project, document=document)


class ServiceFactory(DjangoModelFactory[Service]):
    """A service of a project made by `service_create`."""

    class Meta:
        model = Service

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"service-{n}")

    @classmethod
    def _create(cls, model_class: type, *, project: Project, name: str) -> Service:
        return service_create(project=project, name=name)


class ApiKeyFactory(DjangoModelFactory[IssuedApiKey]):
    """An API key made by `api_key_create`; its clear text is on `.raw_key` (never stored).

    The project comes from the service when only the service is given; an ingest key without
    a service gets a new one in its project; `scope="read"` makes a key without a service.
    """

    class Meta:
        model = ApiKey

    service = None
    project = factory.Maybe(
        "service",
        yes_declaration=factory.SelfAttribute("service.project"),
        no_declaration=factory.SubFactory(ProjectFactory),
    )
    scope = ApiKeyScope.INGEST
    name = ""

    @classmethod
    def _create(
        cls,
        model_class: type,
        *,
        project: Project,
        service: Service | None,
        scope: str,
        name: str,
        **fields: Any,
    ) -> IssuedApiKey:
        if service is None and scope == ApiKeyScope.INGEST:
            service = ServiceFactory.create(project=project)
        api_key, raw = api_key_create(project=project, service=service, scope=scope, name=name)
        if fields:  # what the service leaves at its default, e.g. rate_limit_per_minute
            for field, value in fields.items():
                setattr(api_key, field, value)
            api_key.save(update_fields=list(fields))
        issued = cast("IssuedApiKey", api_key)
        issued.raw_key = raw
        return issued


class UserFactory(DjangoModelFactory[User]):
    """A member of one organization with a role (ops by default), made by `user_create`, so
    their groups and admin access follow the role; the password is USER_PASSWORD."""

    class Meta:
        model = User

    organization = factory.SubFactory(OrganizationFactory)
    username = factory.Sequence(lambda n: f"user-{n}")
    role = Role.OPS
    password = USER_PASSWORD

    @classmethod
    def _create(
        cls,
        model_class: type,
        *,
        organization: Organization,
        username: str,
        role: str,
        password: str,
    ) -> User:
        return user_create(
            organization=organization, username=username, role=role, password=password
        )


class MatrixModelFactory(_CleanSavedFactory[MatrixModel]):
    """A model of a project's matrix, without prices (add them with ModelPriceFactory)."""

    class Meta:
        model = MatrixModel

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    provider = "openai"


class ModelPriceFactory(_CleanSavedFactory[ModelPrice]):
    """A price of a matrix model from `effective_from` (1 January 2026, UTC, by default)."""

    class Meta:
        model = ModelPrice

    model = factory.SubFactory(MatrixModelFactory)
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)
    input_per_1k = Decimal("0.00300000")
    output_per_1k = Decimal("0.01500000")


class ComplexityBandFactory(_CleanSavedFactory[ComplexityBand]):
    """One band covering every score (0 to 100) for gpt-5.4."""

    class Meta:
        model = ComplexityBand

    project = factory.SubFactory(ProjectFactory)
    min_score = Decimal("0.00")
    max_score = Decimal("100.00")
    model_name = "gpt-5.4"


class BudgetFactory(_CleanSavedFactory[Budget]):
    """A monthly project budget of 100 USD; `organization_wide=True` makes an organization
    budget (no project). Give the project or the organization (or neither): the other follows,
    a new project being made in the given organization."""

    class Meta:
        model = Budget

    class Params:
        organization_wide = factory.Trait(project=None, scope_kind=ScopeKind.ORGANIZATION)

    organization = None
    project = factory.Maybe(
        "organization",
        yes_declaration=factory.SubFactory(
            ProjectFactory, organization=factory.SelfAttribute("..organization")
        ),
        no_declaration=factory.SubFactory(ProjectFactory),
    )
    name = factory.Sequence(lambda n: f"budget-{n}")
    period = "month"
    amount_usd = Decimal("100.00")

    @classmethod
    def _create(
        cls,
        model_class: type,
        *,
        organization: Organization | None,
        project: Project | None,
        **fields: Any,
    ) -> Budget:
        if organization is None:
            organization = (
                project.organization if project is not None else OrganizationFactory.create()
            )
        if project is not None and project.organization_id != organization.pk:
            raise ValueError(f"project {project} is not in organization {organization}")
        return super()._create(model_class, organization=organization, project=project, **fields)


class AlertRuleFactory(_CleanSavedFactory[AlertRule]):
    """An error-rate rule on its project, with the model's defaults for everything else."""

    class Meta:
        model = AlertRule

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"rule-{n}")
    kind = "error_rate"

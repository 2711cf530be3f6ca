"""Governance data, one module per concept; every model and choice class is importable from
here. Prices, bands, budgets and rules (and project settings) keep an audit history of every
change (django-simple-history: who, when, before and after).

- `tenancy`: organizations, projects, services, memberships and roles.
- `keys`: API keys and their rate-limit windows.
- `matrix`: the model matrix, model prices and complexity bands.
- `rules`: budgets and alert rules, their scopes, kinds, severities and defaults.
"""

from governance.models.keys import ApiKey, ApiKeyScope, RateLimitWindow
from governance.models.matrix import ComplexityBand, MatrixModel, ModelPrice
from governance.models.money import MONEY
from governance.models.rules import (
    DEFAULT_CONFORMANCE_MIN,
    DEFAULT_THRESHOLDS,
    NAMED_SCOPES,
    POLICY_SCOPED_KINDS,
    THRESHOLD_DECIMAL_PLACES,
    THRESHOLD_MAX_DIGITS,
    AlertKind,
    AlertRule,
    Budget,
    BudgetPeriod,
    ScopeKind,
    Severity,
    default_thresholds,
    policy_scope_problem,
    scope_label,
)
from governance.models.tenancy import Membership, Organization, Project, Role, Service

__all__ = [
    "DEFAULT_CONFORMANCE_MIN",
    "DEFAULT_THRESHOLDS",
    "MONEY",
    "NAMED_SCOPES",
    "POLICY_SCOPED_KINDS",
    "THRESHOLD_DECIMAL_PLACES",
    "THRESHOLD_MAX_DIGITS",
    "AlertKind",
    "AlertRule",
    "ApiKey",
    "ApiKeyScope",
    "Budget",
    "BudgetPeriod",
    "ComplexityBand",
    "MatrixModel",
    "Membership",
    "ModelPrice",
    "Organization",
    "Project",
    "RateLimitWindow",
    "Role",
    "ScopeKind",
    "Service",
    "Severity",
    "default_thresholds",  # migration 0002 names it as governance.models.default_thresholds
    "policy_scope_problem",
    "scope_label",
]

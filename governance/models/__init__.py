"""Governance data, one module per concept; every model and choice class is importable from
here. Prices, bands, budgets, rules and profiles (and project settings) keep an audit history of every
change (django-simple-history: who, when, before and after).

- `tenancy`: organizations, projects, services, memberships and roles.
- `keys`: API keys and their rate-limit windows.
- `matrix`: the model matrix, model prices and complexity bands.
- `rules`: budgets and alert rules, their scopes, kinds, severities and defaults.
- `profile`: a project's answers to the article's five questions, and advice's finding codes.
"""

from governance.models.keys import ApiKey, ApiKeyScope, RateLimitWindow
from governance.models.matrix import ComplexityBand, MatrixModel, ModelPrice
from governance.models.money import MONEY
from governance.models.profile import (
    ADVICE_FIGURES,
    ADVICE_FINDINGS,
    NO_PROFILE,
    PROFILE_QUESTION_TEXTS,
    PROFILE_QUESTIONS,
    Compliance,
    CostSensitivity,
    LatencyTolerance,
    Precision,
    ProjectProfile,
    TrafficPattern,
)
from governance.models.rules import (
    DEFAULT_CONFORMANCE_MIN,
    DEFAULT_THRESHOLDS,
    NAMED_SCOPES,
    POLICY_SCOPED_KINDS,
    PROJECT_ONLY_KINDS,
    THRESHOLD_DECIMAL_PLACES,
    THRESHOLD_MAX_DIGITS,
    AlertKind,
    AlertRule,
    Budget,
    BudgetPeriod,
    ScopeKind,
    Severity,
    default_thresholds,
    findings_problem,
    policy_scope_problem,
    scope_label,
)
from governance.models.tenancy import Membership, Mode, Organization, Project, Role, Service

__all__ = [
    "ADVICE_FIGURES",
    "ADVICE_FINDINGS",
    "DEFAULT_CONFORMANCE_MIN",
    "DEFAULT_THRESHOLDS",
    "MONEY",
    "NAMED_SCOPES",
    "NO_PROFILE",
    "POLICY_SCOPED_KINDS",
    "PROFILE_QUESTIONS",
    "PROFILE_QUESTION_TEXTS",
    "PROJECT_ONLY_KINDS",
    "THRESHOLD_DECIMAL_PLACES",
    "THRESHOLD_MAX_DIGITS",
    "AlertKind",
    "AlertRule",
    "ApiKey",
    "ApiKeyScope",
    "Budget",
    "BudgetPeriod",
    "ComplexityBand",
    "Compliance",
    "CostSensitivity",
    "LatencyTolerance",
    "MatrixModel",
    "Membership",
    "Mode",
    "ModelPrice",
    "Organization",
    "Precision",
    "Project",
    "ProjectProfile",
    "RateLimitWindow",
    "Role",
    "ScopeKind",
    "Service",
    "Severity",
    "TrafficPattern",
    "default_thresholds",  # migration 0002 names it as governance.models.default_thresholds
    "findings_problem",
    "policy_scope_problem",
    "scope_label",
]

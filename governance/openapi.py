"""Describe API key authentication in the OpenAPI schema (loaded from `GovernanceConfig.ready`)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "governance.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tg_<prefix>_<secret>",
            "description": "A project API key; ingest keys are bound to one service.",
        }

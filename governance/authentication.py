"""API key authentication for the REST framework: `Authorization: Bearer tg_...`."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from governance.models import ApiKey
from governance.selectors import api_key_for_secret


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Who is calling when a key authenticates: the key's project, never a user."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def organization_id(self) -> int:
        return self.api_key.project.organization_id


class ApiKeyAuthentication(BaseAuthentication):
    """401 for a missing or unknown key; 403 for a revoked one (checked on every request)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization must be 'Bearer <api key>'.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Unknown API key.") from None
        api_key = api_key_for_secret(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if api_key.is_revoked:
            raise exceptions.PermissionDenied("This API key has been revoked.")
        return ApiKeyPrincipal(api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HasKeyScope(permissions.BasePermission):
    """Permission: the caller authenticated with a key of the view's `required_scope`."""

    message = "This API key does not have the scope this endpoint needs."

    def has_permission(self, request: Request, view: object) -> bool:
        api_key = request.auth
        # A view that names no scope admits no key.
        required_scope = getattr(view, "required_scope", None)
        return isinstance(api_key, ApiKey) and api_key.scope == required_scope

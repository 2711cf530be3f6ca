"""Per-key rate limit on an atomic PostgreSQL counter (DRF's cache throttle races)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from governance.models import ApiKey
from governance.services import api_key_rate_consume


class ApiKeyRateThrottle(BaseThrottle):
    """429 with Retry-After once a key has made its requests-per-minute."""

    def __init__(self) -> None:
        self.retry_after_s: int | None = None

    def allow_request(self, request: Request, view: object) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        decision = api_key_rate_consume(api_key=request.auth, now=timezone.now())
        self.retry_after_s = decision.retry_after_s
        return decision.allowed

    def wait(self) -> float | None:
        return self.retry_after_s

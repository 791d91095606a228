"""Per-key rate limits: fixed one-minute windows counted with atomic cache increments."""

from __future__ import annotations

import math
import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from apps.api_keys.models import ApiKey
from apps.billing.selectors import organization_limits

WINDOW_SECONDS = 60


class ApiKeyRateThrottle(BaseThrottle):
    """Counts requests per key per minute in Redis (INCR, never read-modify-write).

    The limit is the organization's plan's (with staff overrides), read from the cached
    limits. The result is left on the request for the X-RateLimit-* response headers.
    """

    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        limit = organization_limits(organization=api_key.organization_id).api_rate_limit_per_minute
        now = time.time()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        cache_key = f"ratelimit:{api_key.organization_id}:{api_key.id}:{window_start}"
        cache.add(cache_key, 0, timeout=WINDOW_SECONDS + 5)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
        self.reset_in = window_start + WINDOW_SECONDS - now
        request.rate_limit = {"limit": limit, "remaining": max(limit - count, 0), "reset": math.ceil(self.reset_in)}
        return count <= limit

    def wait(self) -> float:
        return max(math.ceil(self.reset_in), 1)

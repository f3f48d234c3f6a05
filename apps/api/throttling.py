"""Request limits of the partner API: per partner for keyed requests, per client address for the others.

Counts live in the Django cache, which is Redis when CACHE_URL is set, so
every web process shares them. Each limit is a fixed window of one minute.
The first request of a window adds the counter, and later ones increment
it (an atomic INCR on Redis). A request over the limit gets 429 with
Retry-After, the seconds until the window ends.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from apps.api.authentication import PartnerClient
from apps.core.clients import client_address

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class _WindowThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def wait(self) -> float | None:
        return self.wait_seconds

    def hit(self, bucket: str, limit: int) -> bool:
        """Count one request in the bucket's current window; return False when it is over ``limit``."""
        now = _now()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        key = f"api-rate:{bucket}:{window_start}"
        # A little longer than the window, so that a counter never expires while its window is current.
        cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
        try:
            count = cache.incr(key)
        except ValueError:
            # The counter expired between add() and incr().
            cache.set(key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
        if count <= limit:
            return True
        self.wait_seconds = max(window_start + WINDOW_SECONDS - now, 1)
        if count == limit + 1:
            logger.warning("API rate limit reached", extra={"bucket": bucket, "limit": limit})
        return False


class PartnerRateThrottle(_WindowThrottle):
    """Limit the requests of all keys of one partner together."""

    def allow_request(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, PartnerClient):
            return True
        partner = client.partner
        limit = partner.requests_per_minute or settings.API_PARTNER_REQUESTS_PER_MINUTE
        return self.hit(f"partner:{partner.pk}", limit)


class ClientAddressRateThrottle(_WindowThrottle):
    """Limit requests without a valid key per client address, read through API_TRUSTED_PROXY_COUNT proxies."""

    def allow_request(self, request, view) -> bool:
        if isinstance(request.auth, PartnerClient):
            return True
        return self.allow_address(request)

    def allow_address(self, request) -> bool:
        address = client_address(request, trusted_proxy_count=settings.API_TRUSTED_PROXY_COUNT) or "unknown"
        return self.hit(f"address:{address}", settings.API_ANONYMOUS_REQUESTS_PER_MINUTE)


def _now() -> float:
    """Return the current Unix time; the tests replace it to keep a run inside one window."""
    return time.time()

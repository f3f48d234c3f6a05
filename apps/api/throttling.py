"""Request limits of the partner API: per partner for keyed requests, per client address for the others.

Counts live in the Django cache, which is Redis when CACHE_URL is set, so
every web process shares them. Each limit is a fixed window of one minute.
The first request of a window creates the counter, and later ones increment
it. On Redis both steps go in one MULTI/EXEC pipeline, one round trip per
request. On other cache backends they are ``add()`` and ``incr()``. A
request over the limit gets 429 with Retry-After, the seconds until the
window ends. When Redis is unreachable, the error propagates and the API
returns 500, as it did when the counter went through ``cache.add()``.
"""

import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from apps.api.authentication import PartnerClient
from apps.core.clients import client_address

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# A little longer than the window, so that a counter never expires while its window is current.
COUNTER_TIMEOUT_SECONDS = WINDOW_SECONDS + 5


class _WindowThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def wait(self) -> float | None:
        return self.wait_seconds

    def hit(self, bucket: str, limit: int) -> bool:
        """Count one request in the bucket's current window; return False when it is over ``limit``."""
        now = _now()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        count = _count_request(f"api-rate:{bucket}:{window_start}")
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


def _count_request(key: str) -> int:
    """Add one to the counter under ``key``, creating it when missing; return the new count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return _count_in_redis(cache, key)
    cache.add(key, 0, timeout=COUNTER_TIMEOUT_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:
        # The counter expired between add() and incr().
        cache.set(key, 1, timeout=COUNTER_TIMEOUT_SECONDS)
        return 1


def _count_in_redis(cache: RedisCache, key: str) -> int:
    """Create the counter (SET NX EX) and increment it (INCR) in one MULTI/EXEC round trip.

    Django's ``add()`` and ``incr()`` take three round trips, because ``incr()`` checks with EXISTS first.
    The transaction runs both commands with nothing in between, so the counter cannot expire between them.
    The counter is stored under the key that the cache API uses, as a plain integer, which is how Django's
    Redis serializer stores an int, so ``cache.get()`` reads it.
    """
    cache_key = cache.make_and_validate_key(key)
    # NOTE: _cache is the private client of Django's RedisCache (Django 4.0 to 5.2); it shares the cache's pool.
    client = cache._cache.get_client(cache_key, write=True)
    pipeline = client.pipeline(transaction=True)
    pipeline.set(cache_key, 0, ex=COUNTER_TIMEOUT_SECONDS, nx=True)
    pipeline.incr(cache_key)
    _, count = pipeline.execute()
    return count


def _now() -> float:
    """Return the current Unix time; the tests replace it to keep a run inside one window."""
    return time.time()

"""Request limits: per partner for keyed requests, per client address for the others, with 429 and Retry-After."""

import os
import socket

import pytest
from django.core.cache import caches
from django.test import override_settings

from apps.api import throttling
from apps.api.keys import api_key_create
from apps.api.models import ApiKey, Partner

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    """Keep every request of a test in one limit window, which a slow run could otherwise cross."""
    monkeypatch.setattr(throttling, "_now", lambda: 1_800_000_030.0)


PATH = "/api/v1/availability/?sku=CHAIR-1"


def test_partner_limit_returns_429(api, catalog, acme_key, settings):
    # given
    settings.API_PARTNER_REQUESTS_PER_MINUTE = 3
    statuses = [api.call("GET", PATH, acme_key).status_code for _ in range(3)]

    # when
    response = api.call("GET", PATH, acme_key)

    # then
    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response["Retry-After"] == "30"


def test_partner_limit_counts_all_its_keys(api, catalog, acme_key, settings):
    # given
    settings.API_PARTNER_REQUESTS_PER_MINUTE = 2
    partner = ApiKey.objects.get(prefix=acme_key[:10]).partner
    _, second_key = api_key_create(partner=partner, name="second", scopes=["catalog:read"])
    api.call("GET", PATH, acme_key)
    api.call("GET", PATH, second_key)

    # when
    response = api.call("GET", PATH, second_key)

    # then
    assert response.status_code == 429


def test_partner_own_rate_overrides_default(api, catalog, acme_key, globex_key, settings):
    # given
    settings.API_PARTNER_REQUESTS_PER_MINUTE = 100
    Partner.objects.filter(api_keys__prefix=acme_key[:10]).update(requests_per_minute=1)
    api.call("GET", PATH, acme_key)

    # when
    limited = api.call("GET", PATH, acme_key)
    other = api.call("GET", "/api/v1/products/", globex_key)

    # then
    assert limited.status_code == 429
    assert other.status_code == 200


def test_wrong_keys_limited_per_address(api, catalog, settings):
    # given
    settings.API_ANONYMOUS_REQUESTS_PER_MINUTE = 2
    first = [api.call("GET", PATH, f"bo_guess-{number}").status_code for number in range(2)]

    # when
    response = api.call("GET", PATH, "bo_guess-3")

    # then
    assert first == [401, 401]
    assert response.status_code == 429
    assert "Retry-After" in response


def test_forged_forwarded_for_does_not_reset_limit(api, catalog, settings):
    # given: one proxy appends the real client address, so only the last entry counts
    settings.API_ANONYMOUS_REQUESTS_PER_MINUTE = 2
    settings.API_TRUSTED_PROXY_COUNT = 1
    for forged in ("1.1.1.1", "2.2.2.2"):
        api.call("GET", PATH, HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.7")

    # when
    same_client = api.call("GET", PATH, HTTP_X_FORWARDED_FOR="3.3.3.3, 203.0.113.7")
    other_client = api.call("GET", PATH, HTTP_X_FORWARDED_FOR="203.0.113.8")

    # then
    assert same_client.status_code == 429
    assert other_client.status_code == 401


def test_schema_limited_per_address(api, settings):
    settings.API_ANONYMOUS_REQUESTS_PER_MINUTE = 1
    api.get("/api/schema/")

    response = api.get("/api/schema/")

    assert response.status_code == 429


REDIS_URL = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"
REDIS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}


@pytest.mark.redis
def test_partner_limit_counted_in_redis(api, catalog, acme_key, settings):
    """With the cache on Redis, the count lives in Redis, where every web process shares it."""
    with override_settings(CACHES=REDIS_CACHE, API_PARTNER_REQUESTS_PER_MINUTE=2):
        caches["default"].clear()
        try:
            statuses = [api.call("GET", PATH, acme_key).status_code for _ in range(3)]
            partner_id = ApiKey.objects.get(prefix=acme_key[:10]).partner_id
            counters = caches["default"]._cache.get_client().keys(f"*api-rate:partner:{partner_id}:*")
        finally:
            caches["default"].clear()

    assert statuses == [200, 200, 429]
    assert len(counters) == 1


@pytest.mark.redis
def test_redis_counter_expires_after_window(api, catalog, acme_key):
    """The counter is created with an expiry a little past its window, so an idle partner's counter goes away."""
    with override_settings(CACHES=REDIS_CACHE, API_PARTNER_REQUESTS_PER_MINUTE=5):
        caches["default"].clear()
        try:
            api.call("GET", PATH, acme_key)
            api.call("GET", PATH, acme_key)
            partner_id = ApiKey.objects.get(prefix=acme_key[:10]).partner_id
            key = f"api-rate:partner:{partner_id}:{1_800_000_000}"
            count = caches["default"].get(key)
            client = caches["default"]._cache.get_client()
            seconds_left = client.ttl(caches["default"].make_and_validate_key(key))
        finally:
            caches["default"].clear()

    assert count == 2
    assert 0 < seconds_left <= throttling.COUNTER_TIMEOUT_SECONDS


@pytest.mark.redis
def test_redis_counter_survives_missing_expiry(api, catalog, acme_key):
    """A counter that exists already, even one written without expiry, is incremented and not reset."""
    with override_settings(CACHES=REDIS_CACHE, API_PARTNER_REQUESTS_PER_MINUTE=3):
        caches["default"].clear()
        try:
            partner_id = ApiKey.objects.get(prefix=acme_key[:10]).partner_id
            caches["default"].set(f"api-rate:partner:{partner_id}:{1_800_000_000}", 2, timeout=None)
            statuses = [api.call("GET", PATH, acme_key).status_code for _ in range(2)]
        finally:
            caches["default"].clear()

    assert statuses == [200, 429]


def test_unreachable_redis_returns_500(api, catalog, acme_key):
    """Without its counters the API cannot enforce limits, so it fails the request rather than skip them."""
    # A port on this machine that nothing listens on: bound once to learn a free number, then closed.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    with override_settings(CACHES=unreachable):
        response = api.call("GET", PATH, acme_key)

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"

"""Shared fixtures, and the rule for tests that need PostgreSQL or Redis.

A test marked ``postgres`` or ``redis`` is skipped when the service is not
there, unless REQUIRE_SERVICES=1 (set by CI), which turns the skip into a
failure so that CI can never pass by skipping.
"""

import os

import pytest
from django.db import connection

from tests.factories import UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _require_marked_services(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("redis"):
        import redis

        url = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
        if not url:
            _skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://...")
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            _skip_or_fail(f"Redis at {url} did not answer: {error}")


@pytest.fixture
def sales_user(db):
    """A staff user in the ``sales`` group, as the groups data migration sets it up."""
    from django.contrib.auth.models import Group

    user = UserFactory(username="sales-test")
    user.groups.add(Group.objects.get(name="sales"))
    return user

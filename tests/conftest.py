"""Shared fixtures, and the rule for tests that need PostgreSQL or Redis.

A test marked ``postgres`` or ``redis`` is skipped when the service is not
there, unless REQUIRE_SERVICES=1 (set by CI), which turns the skip into a
failure so that CI can never pass by skipping.
"""

import os

import pytest
from django.db import connection

from tests.browser.support import launch_chromium, run_procurement_system
from tests.factories import UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_sessionstart(session):
    # Tests read real procurement documents from the standards folder; without
    # it dozens of tests would fail with a bare FileNotFoundError.
    from tests.standards import SAMPLES

    if not SAMPLES.is_dir():
        pytest.exit(
            f"The cXML sample documents are not at {SAMPLES}; check out the project's shared/ folder beside "
            "this repository, or set STANDARDS_DIR to the folder that holds samples/.",
            returncode=4,
        )


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def pytest_collection_modifyitems(items):
    """Give every transactional test the rows that data migrations load (units, groups, routing rules).

    A transactional test ends by flushing every table, which also deletes
    those rows, so a later transactional test would find no ``sales`` group.
    With ``serialized_rollback`` Django reloads the database as migrations
    left it before each such test. pytest-django runs transactional tests
    after all the others, so no flush empties the database under those.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None:
            kwargs = dict(marker.kwargs)
            if not kwargs.get("transaction") or "serialized_rollback" in kwargs:
                continue
        elif {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())):
            kwargs = {"transaction": True}
        else:
            continue
        item.add_marker(
            pytest.mark.django_db(*(marker.args if marker else ()), **kwargs, serialized_rollback=True), append=False
        )


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


@pytest.fixture
def plain_static_storage(settings):
    """Serve static files through the finders: the manifest storage used with DEBUG off needs collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def chromium():
    """Debian's Chromium through Playwright, headless."""
    yield from launch_chromium()


@pytest.fixture
def procurement_system():
    """A buyer's procurement system on 127.0.0.1 that frames the shop and records what is posted to it."""
    yield from run_procurement_system()


@pytest.fixture
def demo_data(settings, plain_static_storage):
    """The demo data of seed_demo, with fast password hashing and mail kept in memory."""
    from apps.core.demo import seed_demo_data

    # Seeding sets four passwords and each login checks one; PBKDF2 takes a quarter second per hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    seed_demo_data()

"""Fixtures for the security tests: staff users of each role and plain static storage."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from hypothesis import HealthCheck, settings

from tests.factories import UserFactory

STAFF_PASSWORD = "test-pass-2026"


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # With DEBUG off the manifest storage needs collectstatic, which tests do not run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def staff_in_group(username: str, group: str):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group))
    return user


CHROMIUM = "/usr/bin/chromium"
# Milliseconds to wait for a page; generous for a loaded CI machine.
TIMEOUT_MS = 15_000


@pytest.fixture
def chromium():
    """Debian's Chromium through Playwright, headless; skipped without it unless REQUIRE_SERVICES=1."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing (REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread, and Django refuses
    # ORM calls from a thread with a running loop unless this is set.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


# Hypothesis runs HYPOTHESIS_MAX_EXAMPLES inputs per property (100 unless set; CI keeps the default, a
# longer local hunt sets thousands). No example database, so runs leave no files behind.
settings.register_profile(
    "security",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("security")

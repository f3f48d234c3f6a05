"""Fixtures for the security tests: staff users of each role and plain static storage."""

import os

import pytest
from django.contrib.auth.models import Group
from hypothesis import HealthCheck, settings

from tests.factories import UserFactory

STAFF_PASSWORD = "test-pass-2026"


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


def staff_in_group(username: str, group: str):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group))
    return user


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

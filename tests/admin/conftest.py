"""Fixtures for the admin page tests."""

import pytest

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def finance_user(db):
    """A staff user in the ``finance`` group."""
    from django.contrib.auth.models import Group

    user = UserFactory(username="finance-test")
    user.groups.add(Group.objects.get(name="finance"))
    return user


@pytest.fixture
def superuser(db):
    return UserFactory(username="admin-test", is_superuser=True)

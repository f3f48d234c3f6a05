"""The data migrations that load units and staff groups undo and redo cleanly."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection

from apps.catalog.models import UnitAlias, UnitOfMeasure

units_migration = importlib.import_module("apps.catalog.migrations.0002_load_uncefact_units")
groups_migration = importlib.import_module("apps.core.migrations.0001_staff_groups")
SCHEMA_EDITOR = SimpleNamespace(connection=connection)

pytestmark = pytest.mark.django_db


def test_unit_migration_reverses_and_reloads():
    # With the project's models, unlike in a migration, deleting also writes "-" history rows.
    units_migration.unload_units(apps, SCHEMA_EDITOR)

    assert UnitOfMeasure.objects.count() == 0
    assert UnitAlias.objects.count() == 0
    assert UnitOfMeasure.history.filter(history_type="+").count() == 0

    units_migration.load_units(apps, SCHEMA_EDITOR)

    assert UnitOfMeasure.objects.count() == 2542
    assert UnitAlias.objects.count() == 120
    assert UnitOfMeasure.history.filter(history_type="+").count() == 2542


def test_unit_migration_load_twice_adds_nothing():
    units_migration.load_units(apps, SCHEMA_EDITOR)

    assert UnitOfMeasure.objects.count() == 2542
    assert UnitAlias.objects.count() == 120


def test_groups_migration_reverse_keeps_used_group():
    # given a finance user, so the finance group is in use
    user = Group.objects.get(name="finance").user_set.create(username="finance-member")

    groups_migration.delete_groups(apps, SCHEMA_EDITOR)

    finance = Group.objects.get(name="finance")
    assert _managed_codenames(finance) == set()
    assert list(user.groups.values_list("name", flat=True)) == ["finance"]


def test_groups_migration_reapplies_permissions():
    groups_migration.delete_groups(apps, SCHEMA_EDITOR)

    groups_migration.create_groups(apps, SCHEMA_EDITOR)

    sales = Group.objects.get(name="sales")
    assert _managed_codenames(sales) == {codename for _, codename in groups_migration.GROUP_PERMISSIONS["sales"]}


def _managed_codenames(group: Group) -> set[str]:
    """Return the group's permissions among those the staff-groups migration manages; later migrations add more."""
    managed = {codename for wanted in groups_migration.GROUP_PERMISSIONS.values() for _, codename in wanted}
    return set(group.permissions.filter(codename__in=managed).values_list("codename", flat=True))

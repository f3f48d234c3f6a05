"""Let the staff groups see catalog import jobs and the changes held for review.

| group         | import job | held change | import row error |
| ------------- | ---------- | ----------- | ---------------- |
| sales         | view       | view        | view             |
| sales-manager | view, add  | view        | view             |
| finance       | view       | -           | -                |

Sales review held price changes through their exception cases; sales-manager
may also start an import from the admin upload page.
"""

import importlib

from django.db import migrations

_staff_groups = importlib.import_module("apps.core.migrations.0001_staff_groups")

GRANTS = {
    "sales": ["view_importjob", "view_heldchange", "view_importrowerror"],
    "sales-manager": ["view_importjob", "add_importjob", "view_heldchange", "view_importrowerror"],
    "finance": ["view_importjob"],
}


def grant(apps, schema_editor):
    _staff_groups._create_app_permissions(apps, schema_editor, "catalog")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_staff_groups"),
        ("catalog", "0003_import_jobs_and_held_changes"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

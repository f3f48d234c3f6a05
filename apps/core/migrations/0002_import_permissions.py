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


def grant_permissions(apps, schema_editor, app_label, grants):
    """Add each group's permissions of one app, creating the permissions first; a missing one is an error."""
    _staff_groups._create_app_permissions(apps, schema_editor, app_label)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in grants.items():
        permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"Permissions {sorted(missing)} of {app_label} were not created; check its models.")
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*permissions)


def revoke_permissions(apps, app_label, grants):
    """Remove the permissions ``grant_permissions`` added, keeping the groups."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in grants.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


def grant(apps, schema_editor):
    grant_permissions(apps, schema_editor, "catalog", GRANTS)


def revoke(apps, schema_editor):
    revoke_permissions(apps, "catalog", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_staff_groups"),
        ("catalog", "0003_import_jobs_and_held_changes"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

"""Create the staff groups sales, sales-manager and finance with their model permissions.

Permission matrix (catalog = category, unit of measure, unit alias, product, warehouse, stock level):

| group         | catalog | customer     | contract                  | contract price            |
| ------------- | ------- | ------------ | ------------------------- | ------------------------- |
| sales         | view    | view, change | view, add, change         | view, add, change         |
| sales-manager | view    | view, change | view, add, change, delete | view, add, change, delete |
| finance       | view    | view, change | view                      | view                      |

Sales and sales-manager may change a customer, but the customer admin shows the credit fields
(credit limit, credit hold) read-only to everyone outside finance, so only finance changes credit.

Django creates permissions only after migrate finishes (post_migrate), so this migration creates
the content types and permissions of the apps it needs itself; the later post_migrate run finds
them and adds nothing. A group that already exists keeps its other permissions.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CATALOG_MODELS = ("category", "unitofmeasure", "unitalias", "product", "warehouse", "stocklevel")
CATALOG_VIEW = [("catalog", f"view_{model}") for model in CATALOG_MODELS]

SALES = [
    *CATALOG_VIEW,
    ("contracts", "view_customer"),
    ("contracts", "change_customer"),
    ("contracts", "view_contract"),
    ("contracts", "add_contract"),
    ("contracts", "change_contract"),
    ("contracts", "view_contractprice"),
    ("contracts", "add_contractprice"),
    ("contracts", "change_contractprice"),
]
SALES_MANAGER = [
    *SALES,
    ("contracts", "delete_contract"),
    ("contracts", "delete_contractprice"),
]
FINANCE = [
    *CATALOG_VIEW,
    ("contracts", "view_customer"),
    ("contracts", "change_customer"),
    ("contracts", "view_contract"),
    ("contracts", "view_contractprice"),
]
GROUP_PERMISSIONS = {
    "sales": SALES,
    "sales-manager": SALES_MANAGER,
    "finance": FINANCE,
}


def _create_app_permissions(apps, schema_editor, app_label):
    # create_permissions skips an app config without a models module, and the migration state's
    # configs have none, so the flag is set for the duration of the call.
    app_config = apps.get_app_config(app_label)
    saved_models_module = getattr(app_config, "models_module", None)
    app_config.models_module = True
    try:
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = saved_models_module


def create_groups(apps, schema_editor):
    for app_label in ("catalog", "contracts"):
        _create_app_permissions(apps, schema_editor, app_label)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, wanted in GROUP_PERMISSIONS.items():
        permissions = []
        for app_label, codename in wanted:
            try:
                permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
            except Permission.DoesNotExist as error:
                raise RuntimeError(
                    f"Permission {app_label}.{codename} for group {group_name} was not created."
                ) from error
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*permissions)


def delete_groups(apps, schema_editor):
    """Take back this migration's permissions, and delete a group left with no permissions and no users.

    Other apps' migrations give these groups permissions and point rules at them, so a group they
    still use stays.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name__in=GROUP_PERMISSIONS):
        for app_label, codename in GROUP_PERMISSIONS[group.name]:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        if not group.permissions.exists() and not group.user_set.exists():
            group.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("catalog", "0002_load_uncefact_units"),
        ("contracts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_groups, delete_groups),
    ]

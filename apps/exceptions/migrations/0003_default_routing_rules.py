"""Default routing rules, and the exceptions permissions of the sales, sales-manager and finance groups.

The groups come from the core groups migration; they are looked up by name
and created when missing all the same, so a renamed or deleted group does
not stop the migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SALES, SALES_MANAGER, FINANCE = "sales", "sales-manager", "finance"

# (kind, team, escalation group or None for the team itself, blocking, default severity)
DEFAULT_RULES = [
    ("price_mismatch", SALES, SALES_MANAGER, True, "normal"),
    ("out_of_stock", SALES, SALES_MANAGER, True, "normal"),
    ("unknown_product", SALES, SALES_MANAGER, True, "normal"),
    ("unit_of_measure", SALES, SALES_MANAGER, True, "normal"),
    ("duplicate_order", SALES, SALES_MANAGER, True, "normal"),
    ("credit", FINANCE, None, True, "normal"),
    ("tax_mismatch", FINANCE, None, True, "normal"),
    # Until the quotes work adds approval rules, every approval goes to the sales managers.
    ("quote_approval", SALES_MANAGER, None, True, "normal"),
    ("catalog_anomaly", SALES, SALES_MANAGER, False, "low"),
]
RULE_NAME_PREFIX = "Default: "

CASE_PERMISSIONS = [
    "view_exceptioncase",
    "take_exceptioncase",
    "assign_exceptioncase",
    "resolve_exceptioncase",
    "dismiss_exceptioncase",
    "view_routingrule",
]
RULE_EDIT_PERMISSIONS = ["add_routingrule", "change_routingrule", "delete_routingrule"]


def add_defaults(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    RoutingRule = apps.get_model("exceptions", "RoutingRule")

    groups = {name: Group.objects.get_or_create(name=name)[0] for name in (SALES, SALES_MANAGER, FINANCE)}
    for kind, team, escalation, blocking, severity in DEFAULT_RULES:
        RoutingRule.objects.get_or_create(
            name=f"{RULE_NAME_PREFIX}{kind.replace('_', ' ')}",
            defaults={
                "kind": kind,
                "priority": 100,
                "team": groups[team],
                "escalation_group": groups[escalation] if escalation else None,
                "blocking": blocking,
                "default_severity": severity,
            },
        )

    # Permissions are normally created after all migrations; these grants need them now.
    app_config = apps.get_app_config("exceptions")
    app_config.models_module = True
    try:
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = None
    case_permissions = list(
        Permission.objects.filter(content_type__app_label="exceptions", codename__in=CASE_PERMISSIONS)
    )
    rule_permissions = list(
        Permission.objects.filter(content_type__app_label="exceptions", codename__in=RULE_EDIT_PERMISSIONS)
    )
    for group in groups.values():
        group.permissions.add(*case_permissions)
    groups[SALES_MANAGER].permissions.add(*rule_permissions)


def remove_defaults(apps, schema_editor):
    RoutingRule = apps.get_model("exceptions", "RoutingRule")
    RoutingRule.objects.filter(name__startswith=RULE_NAME_PREFIX).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("exceptions", "0002_search_prefix_indexes"),
        ("core", "0001_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]

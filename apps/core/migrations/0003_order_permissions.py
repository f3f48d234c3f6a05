"""Give the staff groups the order permissions their work needs.

| group         | view                                                        | transitions                         |
| ------------- | ----------------------------------------------------------- | ----------------------------------- |
| sales         | order, inbound document, outbox event, shipment, invoice    | hold, confirm, cancel               |
| sales-manager | as sales, plus outbound endpoint                            | as sales, plus allocate, reject, revise |
| finance       | order, inbound document, shipment, invoice                  | hold, invoice, mark paid            |

Sales open orders from their exception cases and act on them; finance
follows invoices and payments. Shipments and invoices themselves arrive
from the ERP, so no group adds or changes them by hand.
"""

import importlib

from django.db import migrations

_staff_groups = importlib.import_module("apps.core.migrations.0001_staff_groups")

_SALES_VIEW = ["view_order", "view_inbounddocument", "view_outboxevent", "view_shipment", "view_invoice"]
GRANTS = {
    "sales": [*_SALES_VIEW, "hold_order", "confirm_order", "cancel_order"],
    "sales-manager": [
        *_SALES_VIEW,
        "view_outboundendpoint",
        "hold_order",
        "confirm_order",
        "cancel_order",
        "allocate_order",
        "reject_order",
        "revise_order",
    ],
    "finance": [
        "view_order",
        "view_inbounddocument",
        "view_shipment",
        "view_invoice",
        "hold_order",
        "invoice_order",
        "mark_order_paid",
    ],
}


def _permissions(Permission, codenames):
    found = list(Permission.objects.filter(content_type__app_label="orders", codename__in=codenames))
    missing = set(codenames) - {permission.codename for permission in found}
    if missing:
        raise RuntimeError(f"Order permissions {sorted(missing)} were not created; check the orders models.")
    return found


def grant(apps, schema_editor):
    _staff_groups._create_app_permissions(apps, schema_editor, "orders")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(Permission, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="orders", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_import_permissions"),
        ("orders", "0002_order_cart_differences"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

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

# Its grant and revoke helpers serve every later permission migration.
_import_permissions = importlib.import_module("apps.core.migrations.0002_import_permissions")

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


def grant(apps, schema_editor):
    _import_permissions.grant_permissions(apps, schema_editor, "orders", GRANTS)


def revoke(apps, schema_editor):
    _import_permissions.revoke_permissions(apps, "orders", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_import_permissions"),
        ("orders", "0002_order_cart_differences"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

"""Let the staff groups read the integration document log and the sync-health dashboard.

| group         | permissions                                   |
| ------------- | --------------------------------------------- |
| sales         | view integration documents                    |
| sales-manager | view, and send an outbound document again     |
| finance       | view integration documents                    |

Sales and finance look up what a buyer sent and what the system answered;
sending a document to a buyer again is left to sales managers.
"""

import importlib

from django.db import migrations

# The core app's grant and revoke helpers, shared by every permission migration.
_import_permissions = importlib.import_module("apps.core.migrations.0002_import_permissions")

GRANTS = {
    "sales": ["view_documentlog"],
    "sales-manager": ["view_documentlog", "resend_documentlog"],
    "finance": ["view_documentlog"],
}


def grant(apps, schema_editor):
    _import_permissions.grant_permissions(apps, schema_editor, "integrations", GRANTS)


def revoke(apps, schema_editor):
    _import_permissions.revoke_permissions(apps, "integrations", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_import_permissions"),
        ("integrations", "0001_document_log"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

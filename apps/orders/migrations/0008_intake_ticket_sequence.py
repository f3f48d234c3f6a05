"""The sequence that numbers order intakes in arrival order for their slots (apps/orders/intake_slots.py).

PostgreSQL only: the slots are advisory locks, which SQLite does not have.
"""

from django.db import migrations

# apps/orders/intake_slots.py draws its tickets from this sequence.
TICKET_SEQUENCE = "orders_intake_ticket"


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # CYCLE: the ticket only picks a slot, so wrapping after 2**63 tickets does no harm.
        schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {TICKET_SEQUENCE} CYCLE")


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {TICKET_SEQUENCE}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0007_backorder_queue")]

    operations = [migrations.RunPython(create_sequence, drop_sequence)]

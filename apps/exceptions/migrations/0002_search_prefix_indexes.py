"""Indexes that serve the queue's case-insensitive prefix search on PostgreSQL.

Django turns ``field__istartswith`` into ``UPPER(field::text) LIKE UPPER('term%')``
on PostgreSQL; a B-tree on that expression with ``text_pattern_ops`` serves
it under any collation. SQLite gets no such index, since the embedded setup
holds few cases.
"""

from django.db import migrations

SEARCH_COLUMNS = ("reference", "po_number", "sku", "customer_account", "customer_name")


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS exc_case_{column}_prefix_idx "
            f'ON exceptions_exceptioncase (UPPER("{column}"::text) text_pattern_ops)'
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS exc_case_{column}_prefix_idx")


class Migration(migrations.Migration):
    dependencies = [("exceptions", "0001_cases_and_routing_rules")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]

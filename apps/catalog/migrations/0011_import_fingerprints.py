"""Keep a fingerprint of each product's catalog file row, and count changes to the data rows resolve through.

An unchanged nightly catalog file spent most of its time parsing rows only to find them equal to
the stored products. ``Product.import_fingerprint`` holds a digest of the row text that the
product's values came from, and the next import skips a row with the same digest unparsed
(apps/catalog/imports/fingerprints.py). Two kinds of change make a stored fingerprint wrong, and on
PostgreSQL triggers take care of both in the transaction that makes the change:

- Any update of a product that leaves the fingerprint as it was clears it: an edit in the admin,
  an API push, an applied held change, a queryset update or plain SQL. Only the import's own
  writes set a new one. The trigger's condition is checked without calling the function, so the
  import's writes pay almost nothing for it.
- A change to a unit alias, to a unit's code or status, or to a category's code adds one to the
  single row of ``CatalogReferenceVersion``, which every fingerprint includes; rows read before
  the change no longer match and are parsed again. New categories and new units leave it alone:
  they cannot change what an accepted row resolved to.

SQLite, the embedded default, takes the import's ORM path, which neither reads nor writes fingerprints.
"""

from django.db import migrations, models

PRODUCT_TRIGGER_SQL = """
CREATE FUNCTION catalog_product_forget_import_fingerprint() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.import_fingerprint := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER catalog_product_forget_import_fingerprint
    BEFORE UPDATE ON catalog_product FOR EACH ROW
    WHEN (OLD.import_fingerprint IS NOT NULL AND NEW.import_fingerprint IS NOT DISTINCT FROM OLD.import_fingerprint)
    EXECUTE FUNCTION catalog_product_forget_import_fingerprint();
"""

REFERENCE_TRIGGERS_SQL = """
CREATE FUNCTION catalog_count_reference_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_catalogreferenceversion SET number = number + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalog_unitalias_count_reference_change
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON catalog_unitalias
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_reference_change();
CREATE TRIGGER catalog_unitofmeasure_count_reference_change
    AFTER UPDATE ON catalog_unitofmeasure FOR EACH ROW
    WHEN (OLD.code IS DISTINCT FROM NEW.code OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION catalog_count_reference_change();
CREATE TRIGGER catalog_category_count_reference_change
    AFTER UPDATE ON catalog_category FOR EACH ROW
    WHEN (OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION catalog_count_reference_change();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS catalog_category_count_reference_change ON catalog_category;
DROP TRIGGER IF EXISTS catalog_unitofmeasure_count_reference_change ON catalog_unitofmeasure;
DROP TRIGGER IF EXISTS catalog_unitalias_count_reference_change ON catalog_unitalias;
DROP FUNCTION IF EXISTS catalog_count_reference_change();
DROP TRIGGER IF EXISTS catalog_product_forget_import_fingerprint ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_forget_import_fingerprint();
"""


def create_version_row_and_triggers(apps, schema_editor):
    apps.get_model("catalog", "CatalogReferenceVersion").objects.using(schema_editor.connection.alias).create(
        pk=1, number=0
    )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PRODUCT_TRIGGER_SQL)
        schema_editor.execute(REFERENCE_TRIGGERS_SQL)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_partial_tax_class_and_history_user_indexes")]

    operations = [
        migrations.CreateModel(
            name="CatalogReferenceVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name": "catalog reference data version"},
        ),
        migrations.AddField(model_name="product", name="import_fingerprint", field=models.BinaryField(null=True)),
        migrations.RunPython(create_version_row_and_triggers, drop_triggers),
    ]

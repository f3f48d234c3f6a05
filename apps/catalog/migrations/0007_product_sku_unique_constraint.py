"""Keep the product SKU unique through a UniqueConstraint and drop its LIKE pattern index.

``unique=True`` on a CharField makes Django create a second index on PostgreSQL, with
varchar_pattern_ops, for ``LIKE 'prefix%'`` lookups. No query of the project makes one, and a catalog
import writes every new product to that index too. The constraint keeps the same unique btree
index, and model validation reports a duplicate SKU with the same message as before.

On PostgreSQL this drops catalog_product_sku_key and the pattern index, then adds product_sku_uniq,
which builds its index over the existing rows. The migration's transaction keeps the table locked
in between, so no duplicate SKU can be written meanwhile.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_import_job_heartbeat"),
    ]

    operations = [
        migrations.AlterField(
            model_name="product",
            name="sku",
            field=models.CharField(max_length=64, verbose_name="SKU"),
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.UniqueConstraint(fields=("sku",), name="product_sku_uniq"),
        ),
    ]

"""Drop the product's unit index and the product history's date index, which no query reads.

A first catalog import inserts 100,000 products and 100,000 history rows, and each index took one
btree insert per row. In alternating first imports of the catalog benchmark (2 vCPUs), leaving both
out cut PostgreSQL's CPU time from 1.79-1.89 s to 1.52-1.72 s and the WAL from 114 to 101 MB.

- catalog_product.unit_id: products are never looked up by unit. Deleting a unit (Django's PROTECT
  query and the foreign key's check) now reads the table once, which a rare admin action can afford.
- catalog_historicalproduct.history_date: the history is read product by product through the id
  index (the admin's history page, ``prev_record``), and those few rows are sorted by date.

Re-adding the unit foreign key constraint, which Django drops around the index change, checks the
existing rows once.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0011_import_fingerprints"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalproduct",
            name="history_date",
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name="product",
            name="unit",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="products",
                to="catalog.unitofmeasure",
                verbose_name="unit of measure",
            ),
        ),
    ]

"""Drop product indexes that no query uses, which every catalog import had to write.

The catalog import inserts or updates up to 100,000 products and one history row for each changed
product. The product table keeps its category index only as product_cat_active_idx, whose first
column is the category. The history table keeps its indexes on history_id, id (a product's history),
history_date and history_user_id, and loses those on sku, category and unit, which no query reads.
Re-adding the category foreign key checks the existing rows once.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_constraint_messages"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalproduct",
            name="category",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="catalog.category",
            ),
        ),
        migrations.AlterField(
            model_name="historicalproduct",
            name="sku",
            field=models.CharField(max_length=64, verbose_name="SKU"),
        ),
        migrations.AlterField(
            model_name="historicalproduct",
            name="unit",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="catalog.unitofmeasure",
                verbose_name="unit of measure",
            ),
        ),
        migrations.AlterField(
            model_name="product",
            name="category",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="products",
                to="catalog.category",
            ),
        ),
    ]

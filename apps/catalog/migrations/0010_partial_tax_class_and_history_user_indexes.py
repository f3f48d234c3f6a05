"""Index products' tax class and the history's user only where set, and drop the history's tax class index.

A first catalog import writes 100,000 products and 100,000 history rows, none with a tax class and,
when the ERP's feed runs from a command or a Celery task, none with a user. Each full index there
took one btree insert per row.

- catalog_product.tax_class_id: the admin's tax class filter and the checks run when a tax class is
  deleted (Django's PROTECT query and the foreign key's trigger) compare it with a value, which
  implies IS NOT NULL, so the partial index product_tax_class_idx serves them. The admin's
  "empty" choice (IS NULL) matches most products and is read by a sequential scan either way.
- catalog_historicalproduct.history_user_id: only deleting a user looks rows up by it, in Django's
  SET_NULL update and the foreign key's check, both comparisons with the user's id. The partial
  index product_hist_user_idx serves them. The history pages join the user by its primary key.
- catalog_historicalproduct.tax_class_id: no query reads history by tax class, and the column has
  no database constraint, so deleting a tax class does not look at it. The index goes.

Re-adding the two foreign key constraints that Django drops around the index change checks the
existing rows once.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0009_product_tax_class"),
        ("tax", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalproduct",
            name="history_user",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="historicalproduct",
            name="tax_class",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                help_text="Empty: the default tax class.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tax.taxclass",
            ),
        ),
        migrations.AlterField(
            model_name="product",
            name="tax_class",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty: the default tax class.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="products",
                to="tax.taxclass",
            ),
        ),
        migrations.AddIndex(
            model_name="historicalproduct",
            index=models.Index(
                condition=models.Q(("history_user__isnull", False)),
                fields=["history_user"],
                name="product_hist_user_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(
                condition=models.Q(("tax_class__isnull", False)), fields=["tax_class"], name="product_tax_class_idx"
            ),
        ),
    ]

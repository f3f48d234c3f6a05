"""Store the ERP's change time on contract prices, from the optional updated_at column of their file.

A nullable column without a default: adding it does not rewrite the table, and the prices stored
before it have no change time, so the first row that gives one is applied whatever its time.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0002_constraint_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="contractprice",
            name="source_updated_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="historicalcontractprice",
            name="source_updated_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exceptions", "0004_active_queue_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="exceptioncase",
            index=models.Index(fields=["due_at", "id"], name="exc_case_due_idx"),
        ),
    ]
